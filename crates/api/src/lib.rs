//! The `metrics.k8s.io` API (`v1` and `v1beta1`, the same data) on the generic apiserver kit: the routes an authenticated,
//! authorized request reaches — discovery, the metrics objects, health checks, self-metrics,
//! version and OpenAPI.
//!
//! Every route answers as the Go generic apiserver would (paths, status codes, `Status` bodies,
//! content types); the metrics objects join the cluster's Nodes/Running Pods with the store's
//! latest consistent snapshot.

mod discovery;
pub mod health;
mod objects;
mod parsed;
mod query;
mod response;
mod self_metrics;
mod watch;

use std::sync::Arc;

use apimachinery::selector::LabelSelector;
use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use cluster_state::ClusterState;
use generic_apiserver::HealthChecks;
use metric_store::Store;
use metrics_types::ApiVersion;
use tokio_util::sync::CancellationToken;

pub use health::add_checks;
pub use self_metrics::ApiMetrics;

/// What the routes read from.
#[derive(Clone, Debug)]
pub struct MetricsApi {
    pub cluster: Arc<ClusterState>,
    pub store: Arc<Store>,
    /// `--node-selector`: nodes outside it are neither scraped nor listed.
    pub node_selector: Arc<LabelSelector>,
    pub metrics: ApiMetrics,
    /// `/healthz`, `/livez`, `/readyz`: the kit's defaults plus [`add_checks`].
    pub health: Arc<HealthChecks>,
    /// Everything `/metrics` exposes.
    pub registry: prometheus::Registry,
    /// Fires when the server shuts down: open watches end then.
    pub shutdown: CancellationToken,
    /// Why a node has no metrics, for the 404 of its NodeMetrics.
    pub diagnosis: Arc<dyn NodeDiagnosis>,
}

/// Says why a node has no metrics (its scrapes fail), so a `GET` of its NodeMetrics can tell
/// the user where they already look. The binary answers from the scraper's per-node health.
pub trait NodeDiagnosis: std::fmt::Debug + Send + Sync {
    /// A sentence on why `node` has no metrics, or `None` when nothing is known.
    fn why_no_metrics(&self, node: &str) -> Option<String>;
}

/// Knows nothing (tests and tools without a scraper).
#[derive(Debug, Default)]
pub struct NoDiagnosis;

impl NodeDiagnosis for NoDiagnosis {
    fn why_no_metrics(&self, _node: &str) -> Option<String> {
        None
    }
}

impl MetricsApi {
    /// All routes; anything else gets upstream's 404 with the list of served paths.
    pub fn router(self) -> Router {
        let mut router = Router::new()
            .route("/", get(discovery::root_paths))
            .route("/apis", get(discovery::apis))
            .route("/apis/", get(discovery::apis))
            .route("/apis/metrics.k8s.io", get(discovery::api_group))
            .route("/apis/metrics.k8s.io/", get(discovery::api_group))
            .route("/metrics", get(self_metrics::metrics))
            .route("/version", get(discovery::version))
            .route("/openapi/v2", get(discovery::openapi_v2))
            .route("/openapi/v3", get(discovery::openapi_v3));
        // Both versions serve the same data; each handler reads its version from the request's
        // one parse, so the answer's `apiVersion` is the one the client asked for.
        for version in ApiVersion::ALL {
            let gv = version.path();
            router = router
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
                .route(
                    metrics_types::openapi::v3_group_version_path(version),
                    get(discovery::openapi_v3_group_version),
                );
        }
        HealthChecks::install(router)
            .fallback(discovery::not_found)
            .method_not_allowed_fallback(response::method_not_allowed)
            .with_state(self)
    }
}

impl FromRef<MetricsApi> for Arc<HealthChecks> {
    fn from_ref(api: &MetricsApi) -> Arc<HealthChecks> {
        Arc::clone(&api.health)
    }
}
