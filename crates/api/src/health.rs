//! The metrics checks behind `/healthz`, `/livez` and `/readyz`, with upstream's names,
//! order and reasons (the endpoints themselves are the kit's [`HealthChecks`]).

use std::sync::Arc;

use cluster_state::ClusterState;
use generic_apiserver::{Endpoint, HealthCheck, HealthChecks};
use metric_store::Store;

/// Adds metrics-server's checks after the generic ones, in upstream's order:
/// `collection_timely` (the scrape loop's, owned by whoever runs it) on `/livez`,
/// `metric-storage-ready` and `metric-informer-sync` on `/readyz`, and
/// `metadata-informer-sync` on all three.
pub fn add_checks(
    checks: &mut HealthChecks,
    cluster: &Arc<ClusterState>,
    store: &Arc<Store>,
    collection_timely: HealthCheck,
) {
    checks.add(&[Endpoint::Livez], collection_timely);

    let storage = Arc::clone(store);
    checks.add(
        &[Endpoint::Readyz],
        HealthCheck::new("metric-storage-ready", move || {
            let readiness = storage.snapshot().readiness();
            match (readiness.nodes, readiness.pods) {
                (true, true) => Ok(()),
                (false, true) => Err("no metrics to serve: node metrics are missing".into()),
                (true, false) => Err("no metrics to serve: pod metrics are missing".into()),
                (false, false) => Err("no metrics to serve".into()),
            }
        }),
    );

    let informers = Arc::clone(cluster);
    checks.add(
        &[Endpoint::Readyz],
        HealthCheck::new("metric-informer-sync", move || {
            match (informers.nodes_synced(), informers.pods_synced()) {
                (true, true) => Ok(()),
                _ => Err("cache for node/pod informer has not synced".into()),
            }
        }),
    );

    let metadata = Arc::clone(cluster);
    checks.add(
        &[Endpoint::Healthz, Endpoint::Livez, Endpoint::Readyz],
        HealthCheck::new("metadata-informer-sync", move || {
            if metadata.pods_synced() {
                Ok(())
            } else {
                Err("1 informers not started yet: [pods]".into())
            }
        }),
    );
}
