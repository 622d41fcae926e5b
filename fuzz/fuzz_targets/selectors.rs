//! Label and field selectors as a client writes them in `labelSelector=` / `fieldSelector=`:
//! parse, and when they parse, match and convert to SubjectAccessReview requirements.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use apimachinery::selector::{FieldSelector, LabelSelector};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(selector) = LabelSelector::parse(text) {
        let labels = BTreeMap::from([
            ("app".to_owned(), "web".to_owned()),
            ("tier".to_owned(), String::new()),
        ]);
        let _ = selector.matches(&labels);
        let _ = selector.and(&selector).matches(&labels);
        let _ = selector.to_sar_requirements();
        // The canonical form must parse again to the same requirements.
        let again = LabelSelector::parse(&selector.to_string())
            .unwrap_or_else(|e| panic!("{selector} does not parse again: {e}"));
        assert_eq!(again.requirements(), selector.requirements());
    }
    let _ = FieldSelector::parse(text);
    if let Ok(selector) = FieldSelector::parse_any_field(text) {
        let _ = selector.requirements();
    }
});
