//! `/stats/summary` bodies: any bytes decode or fail, never panic.
#![no_main]

use kubelet_scraper::decode::{MAX_CONTAINERS_PER_POD, decode_summary};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(metrics) = decode_summary(body) {
        assert!(
            metrics
                .pods
                .values()
                .all(|containers| containers.len() <= MAX_CONTAINERS_PER_POD)
        );
    }
});
