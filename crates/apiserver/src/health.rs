//! `/healthz`, `/livez` and `/readyz` as the Go generic apiserver serves them: its default
//! checks first (`ping`, `log`, the two post-start hooks), then the checks the server adds in
//! the order it adds them, and on `/readyz` `shutdown` last. Upstream's e2e test compares the
//! `?verbose` text byte for byte.
//!
//! A failing check's reason is only logged; the response says "reason withheld", as Go does.
//! The kit knows no check of its own beyond those; what "healthy" means for a server (storage
//! ready, informers synced, collection on time) is the server's to add with [`HealthChecks::add`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{FromRef, Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::percent;

/// The three health endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/healthz` (deprecated in Go, still served and probed by old manifests).
    Healthz,
    /// `/livez`: failing means restart the process.
    Livez,
    /// `/readyz`: failing means take the endpoint out of the Service.
    Readyz,
}

impl Endpoint {
    const ALL: [Endpoint; 3] = [Endpoint::Healthz, Endpoint::Livez, Endpoint::Readyz];

    fn name(self) -> &'static str {
        match self {
            Endpoint::Healthz => "healthz",
            Endpoint::Livez => "livez",
            Endpoint::Readyz => "readyz",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

type Probe = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// One named check; the probe answers `Err(reason)` when unhealthy.
#[derive(Clone)]
pub struct HealthCheck {
    name: &'static str,
    probe: Probe,
}

impl HealthCheck {
    /// A check called `name` (as Go names it, e.g. `metric-storage-ready`).
    pub fn new(
        name: &'static str,
        probe: impl Fn() -> Result<(), String> + Send + Sync + 'static,
    ) -> HealthCheck {
        HealthCheck {
            name,
            probe: Arc::new(probe),
        }
    }

    fn always_ok(name: &'static str) -> HealthCheck {
        HealthCheck::new(name, || Ok(()))
    }

    /// The check's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl std::fmt::Debug for HealthCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HealthCheck").field(&self.name).finish()
    }
}

/// The checks of each endpoint and the shutdown flag `/readyz` reports.
#[derive(Debug)]
pub struct HealthChecks {
    by_endpoint: [Vec<HealthCheck>; 3],
    shutting_down: Arc<AtomicBool>,
    shutdown: HealthCheck,
}

impl Default for HealthChecks {
    fn default() -> Self {
        HealthChecks::new()
    }
}

impl HealthChecks {
    /// The generic apiserver's defaults on every endpoint. The post-start hooks are always
    /// ok: the filters they wait for are installed before the server accepts a connection.
    pub fn new() -> HealthChecks {
        let defaults = [
            HealthCheck::always_ok("ping"),
            HealthCheck::always_ok("log"),
            HealthCheck::always_ok("poststarthook/max-in-flight-filter"),
            HealthCheck::always_ok("poststarthook/storage-object-count-tracker-hook"),
        ];
        let shutting_down = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&shutting_down);
        let shutdown = HealthCheck::new("shutdown", move || {
            if flag.load(Ordering::Acquire) {
                Err("process is shutting down".into())
            } else {
                Ok(())
            }
        });
        HealthChecks {
            by_endpoint: [defaults.to_vec(), defaults.to_vec(), defaults.to_vec()],
            shutting_down,
            shutdown,
        }
    }

    /// Adds `check` to each of `endpoints`, after the checks already there.
    pub fn add(&mut self, endpoints: &[Endpoint], check: HealthCheck) {
        for endpoint in endpoints {
            self.by_endpoint[endpoint.index()].push(check.clone());
        }
    }

    /// From now on `/readyz` fails, so endpoints drain while requests are still served.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// The checks of `endpoint` in the order they run, `shutdown` last on `/readyz`.
    fn checks(&self, endpoint: Endpoint) -> impl Iterator<Item = &HealthCheck> {
        let shutdown = (endpoint == Endpoint::Readyz).then_some(&self.shutdown);
        self.by_endpoint[endpoint.index()].iter().chain(shutdown)
    }

    /// Mounts the three endpoints and their `/<endpoint>/<check>` forms on `router`, reading
    /// the checks from the router's state.
    pub fn install<S>(router: Router<S>) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
        Arc<HealthChecks>: FromRef<S>,
    {
        let mut router = router;
        for endpoint in Endpoint::ALL {
            let all = move |State(health): State<Arc<HealthChecks>>, RawQuery(query): RawQuery| async move {
                run_checks(&health, endpoint, query.as_deref())
            };
            let one = move |State(health): State<Arc<HealthChecks>>, Path(check): Path<String>| async move {
                run_one(&health, endpoint, &check)
            };
            router = router
                .route(&format!("/{}", endpoint.name()), get(all))
                .route(&format!("/{}/{{check}}", endpoint.name()), get(one));
        }
        router
    }
}

fn text(code: StatusCode, body: String) -> Response {
    let mut answer = (code, body).into_response();
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    answer
}

/// One endpoint: every check in order, `?verbose` detail, `?exclude=<name>` (repeatable).
fn run_checks(health: &HealthChecks, endpoint: Endpoint, query: Option<&str>) -> Response {
    let endpoint_name = endpoint.name();
    let mut verbose = false;
    let mut excluded: Vec<String> = Vec::new();
    for (key, value) in percent::query_pairs(query.unwrap_or("")) {
        match key.as_str() {
            "verbose" => verbose = true,
            "exclude" => excluded.push(value),
            _ => {}
        }
    }
    let mut detail = String::new();
    let mut failed = Vec::new();
    for check in health.checks(endpoint) {
        let name = check.name;
        if let Some(position) = excluded.iter().position(|e| e == name) {
            excluded.remove(position);
            detail.push_str(&format!("[+]{name} excluded: ok\n"));
            continue;
        }
        match (check.probe)() {
            Ok(()) => detail.push_str(&format!("[+]{name} ok\n")),
            Err(reason) => {
                tracing::info!(check = name, %reason, "{endpoint_name} check failed");
                detail.push_str(&format!("[-]{name} failed: reason withheld\n"));
                failed.push(name);
            }
        }
    }
    if !excluded.is_empty() {
        let quoted: Vec<String> = excluded.iter().map(|e| format!("{e:?}")).collect();
        detail.push_str(&format!(
            "warn: some health checks cannot be excluded: no matches for {}\n",
            quoted.join(",")
        ));
    }
    if !failed.is_empty() {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{detail}{endpoint_name} check failed\n"),
        );
    }
    if verbose {
        text(
            StatusCode::OK,
            format!("{detail}{endpoint_name} check passed\n"),
        )
    } else {
        text(StatusCode::OK, "ok".to_string())
    }
}

/// `/<endpoint>/<check>`: just that check.
fn run_one(health: &HealthChecks, endpoint: Endpoint, requested: &str) -> Response {
    match health
        .checks(endpoint)
        .find(|check| check.name == requested)
    {
        Some(check) => match (check.probe)() {
            Ok(()) => text(StatusCode::OK, "ok".to_string()),
            Err(reason) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("internal server error: {reason}\n"),
            ),
        },
        None => text(StatusCode::NOT_FOUND, "404 page not found\n".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    use axum::body::Body;
    use http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(health: &Arc<HealthChecks>, path: &str) -> (StatusCode, String) {
        let router = HealthChecks::install(Router::new()).with_state(Arc::clone(health));
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn with_flag(flag: &Arc<AtomicBool>) -> Arc<HealthChecks> {
        let mut checks = HealthChecks::new();
        let flag = Arc::clone(flag);
        checks.add(
            &[Endpoint::Livez, Endpoint::Readyz],
            HealthCheck::new("custom", move || {
                if flag.load(Ordering::Acquire) {
                    Ok(())
                } else {
                    Err("not yet".into())
                }
            }),
        );
        checks.add(&Endpoint::ALL, HealthCheck::always_ok("last"));
        Arc::new(checks)
    }

    #[tokio::test]
    async fn checks_run_defaults_first_then_added_then_shutdown() {
        let flag = Arc::new(AtomicBool::new(true));
        let health = with_flag(&flag);
        let defaults = "[+]ping ok\n[+]log ok\n[+]poststarthook/max-in-flight-filter ok\n\
                        [+]poststarthook/storage-object-count-tracker-hook ok\n";
        assert_eq!(
            get(&health, "/healthz?verbose").await,
            (
                StatusCode::OK,
                format!("{defaults}[+]last ok\nhealthz check passed\n")
            )
        );
        assert_eq!(
            get(&health, "/readyz?verbose").await,
            (
                StatusCode::OK,
                format!(
                    "{defaults}[+]custom ok\n[+]last ok\n[+]shutdown ok\nreadyz check passed\n"
                )
            )
        );
        assert_eq!(get(&health, "/livez").await, (StatusCode::OK, "ok".into()));
    }

    #[tokio::test]
    async fn a_failing_check_withholds_its_reason_but_names_itself() {
        let flag = Arc::new(AtomicBool::new(false));
        let health = with_flag(&flag);
        let (status, body) = get(&health, "/livez").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            body.contains("[-]custom failed: reason withheld\n"),
            "{body}"
        );
        assert!(body.ends_with("livez check failed\n"), "{body}");
        assert_eq!(
            get(&health, "/livez/custom").await,
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal server error: not yet\n".into()
            )
        );
        let (status, body) = get(&health, "/livez?exclude=custom&exclude=nope").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        flag.store(true, Ordering::Release);
        assert_eq!(get(&health, "/livez").await, (StatusCode::OK, "ok".into()));
        assert_eq!(
            get(&health, "/healthz/custom").await,
            (StatusCode::NOT_FOUND, "404 page not found\n".into())
        );
    }

    #[tokio::test]
    async fn shutdown_fails_readyz_only() {
        let flag = Arc::new(AtomicBool::new(true));
        let health = with_flag(&flag);
        health.begin_shutdown();
        let (status, body) = get(&health, "/readyz?verbose").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            body.contains("[-]shutdown failed: reason withheld\n"),
            "{body}"
        );
        assert_eq!(get(&health, "/livez").await.0, StatusCode::OK);
        assert_eq!(get(&health, "/healthz").await.0, StatusCode::OK);
    }
}
