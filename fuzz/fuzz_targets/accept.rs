//! `Accept` headers: media-range parsing and the choice of output for objects and discovery.
#![no_main]

use libfuzzer_sys::fuzz_target;
use apimachinery::negotiate::{
    negotiate_discovery_output, negotiate_object_output, parse_accept,
};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    for range in parse_accept(header) {
        // Unacceptable (q=0) and unreadable q-values are dropped, never served.
        assert!(range.q > 0.0, "{range:?}");
    }
    let _ = negotiate_object_output(Some(header));
    let _ = negotiate_discovery_output(Some(header));
});
