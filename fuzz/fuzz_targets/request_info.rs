//! Request targets as the server sees them: the path and query behind every authorization
//! decision. Parsing must never panic, and what authorization reads (the parse) must be what
//! serving reads.
#![no_main]

use http::{Method, Uri};
use libfuzzer_sys::fuzz_target;
use generic_apiserver::RequestInfo;

const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, target)) = data.split_first() else {
        return;
    };
    let method = &METHODS[usize::from(selector) % METHODS.len()];
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    if let Ok(info) = RequestInfo::from_parts(method, &uri) {
        let _ = info.label_selector();
        let _ = info.field_selector();
        let _ = info.attributes("someone");
        // One parse: the same request parses to the same answer.
        let again = RequestInfo::from_parts(method, &uri).ok();
        assert_eq!(again.as_ref(), Some(&info));
    }
});
