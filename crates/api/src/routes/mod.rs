//! The routes an authenticated, authorized request reaches: discovery, the metrics objects,
//! health checks, self-metrics, version and OpenAPI.
//!
//! Every route answers as the Go generic apiserver would (paths, status codes, `Status` bodies,
//! content types); the metrics objects join the cluster's Nodes/Running Pods with the store's
//! latest consistent snapshot.

mod discovery;
mod health;
mod objects;
mod parsed;
mod query;
mod response;
mod self_metrics;

use std::sync::Arc;

use apimachinery::selector::LabelSelector;
use axum::Router;
use axum::routing::get;
use cluster_state::ClusterState;
use metric_store::Store;

pub use health::Health;
pub use self_metrics::ApiMetrics;

/// What the routes read from.
#[derive(Clone, Debug)]
pub struct MetricsApi {
    pub cluster: Arc<ClusterState>,
    pub store: Arc<Store>,
    /// `--node-selector`: nodes outside it are neither scraped nor listed.
    pub node_selector: Arc<LabelSelector>,
    pub metrics: ApiMetrics,
    pub health: Arc<Health>,
    /// Everything `/metrics` exposes.
    pub registry: prometheus::Registry,
}

const GROUP_VERSION_PATH: &str = "/apis/metrics.k8s.io/v1beta1";

impl MetricsApi {
    /// All routes; anything else gets upstream's 404 with the list of served paths.
    pub fn router(self) -> Router {
        let gv = GROUP_VERSION_PATH;
        Router::new()
            .route("/", get(discovery::root_paths))
            .route("/apis", get(discovery::apis))
            .route("/apis/", get(discovery::apis))
            .route("/apis/metrics.k8s.io", get(discovery::api_group))
            .route("/apis/metrics.k8s.io/", get(discovery::api_group))
            .route(gv, get(discovery::api_resources))
            .route(&format!("{gv}/"), get(discovery::api_resources))
            .route(&format!("{gv}/nodes"), get(objects::list_nodes))
            .route(&format!("{gv}/nodes/{{name}}"), get(objects::get_node))
            .route(&format!("{gv}/pods"), get(objects::list_pods))
            .route(
                &format!("{gv}/namespaces/{{namespace}}/pods"),
                get(objects::list_pods),
            )
            .route(
                &format!("{gv}/namespaces/{{namespace}}/pods/{{name}}"),
                get(objects::get_pod),
            )
            .route("/healthz", get(health::healthz))
            .route("/healthz/{check}", get(health::healthz_check))
            .route("/livez", get(health::livez))
            .route("/livez/{check}", get(health::livez_check))
            .route("/readyz", get(health::readyz))
            .route("/readyz/{check}", get(health::readyz_check))
            .route("/metrics", get(self_metrics::metrics))
            .route("/version", get(discovery::version))
            .route("/openapi/v2", get(discovery::openapi_v2))
            .route("/openapi/v3", get(discovery::openapi_v3))
            .route(
                metrics_types::openapi::V3_GROUP_VERSION_PATH,
                get(discovery::openapi_v3_group_version),
            )
            .fallback(discovery::not_found)
            .method_not_allowed_fallback(response::method_not_allowed)
            .with_state(self)
    }
}
