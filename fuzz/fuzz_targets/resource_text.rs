//! `/metrics/resource` bodies: both decoders must return (never panic) on any bytes, and what
//! they return must respect the bounds the store relies on.
#![no_main]

use kubelet_scraper::decode::{
    MAX_CONTAINERS_PER_POD, decode_resource, decode_resource_with_prometheus_parse,
};
use libfuzzer_sys::fuzz_target;
use metric_store::Timestamp;

const SCRAPE_START: Timestamp = Timestamp(1_749_556_815_000_000_000);

fuzz_target!(|body: &[u8]| {
    if let Ok(metrics) = decode_resource(body, SCRAPE_START) {
        assert!(
            metrics
                .pods
                .values()
                .all(|containers| containers.len() <= MAX_CONTAINERS_PER_POD)
        );
        assert!(metrics.container_count() <= body.len());
    }
    let _ = decode_resource_with_prometheus_parse(body, SCRAPE_START);
});
