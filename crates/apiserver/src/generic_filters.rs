//! The generic apiserver filters that sit outside authentication in Go's handler chain:
//! the in-flight request limit (`--max-requests-inflight`, 429), the request timeout
//! (`--request-timeout`, 504), HSTS (`--strict-transport-security-directives`) and the default
//! `Cache-Control: no-cache, private`.

use std::sync::Arc;
use std::time::Duration;

use apimachinery::status::{Status, StatusDetails};
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use http::HeaderValue;
use http::header::{CACHE_CONTROL, RETRY_AFTER, STRICT_TRANSPORT_SECURITY};
use tokio::sync::Semaphore;

use crate::status_response::status_response;

/// Settings of the filters.
#[derive(Clone, Debug)]
pub struct GenericFilters {
    /// At most this many requests in flight; 0 means unlimited.
    pub max_requests_inflight: usize,
    /// Longest a request may run.
    pub request_timeout: Duration,
    /// The `Strict-Transport-Security` value parts; empty means no header.
    pub hsts_directives: Vec<String>,
}

#[derive(Clone, Debug)]
struct FilterState {
    inflight: Option<Arc<Semaphore>>,
    request_timeout: Duration,
    hsts: Option<HeaderValue>,
}

impl GenericFilters {
    /// Wraps `router` (already protected by authentication and authorization).
    pub fn apply(&self, router: Router) -> Router {
        let state = FilterState {
            inflight: (self.max_requests_inflight > 0)
                .then(|| Arc::new(Semaphore::new(self.max_requests_inflight))),
            request_timeout: self.request_timeout,
            hsts: (!self.hsts_directives.is_empty())
                .then(|| HeaderValue::from_str(&self.hsts_directives.join("; ")).ok())
                .flatten(),
        };
        router.layer(middleware::from_fn_with_state(state, filter))
    }
}

async fn filter(State(state): State<FilterState>, request: Request, next: Next) -> Response {
    // Health probes must keep working when the server is saturated, as Go exempts them.
    let exempt = matches!(request.uri().path(), "/healthz" | "/livez" | "/readyz");
    let _permit = match (&state.inflight, exempt) {
        (Some(semaphore), false) => match Arc::clone(semaphore).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let mut answer = status_response(
                    &Status::too_many_requests("Too many requests, please try again later."),
                    request.headers(),
                );
                answer
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                return answer;
            }
        },
        _ => None,
    };
    // The timeout's Status is written after the request is gone: keep what negotiates it.
    let request_headers = request.headers().clone();
    let mut answer = match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(answer) => answer,
        Err(_) => status_response(
            &Status {
                code: 504,
                reason: "Timeout",
                message: "Timeout: request did not complete within the allotted timeout".to_owned(),
                details: Some(StatusDetails::default()),
            },
            &request_headers,
        ),
    };
    let headers = answer.headers_mut();
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    }
    if let Some(hsts) = &state.hsts {
        headers.insert(STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use http::StatusCode;
    use tower::ServiceExt;

    fn request(path: &str) -> Request {
        Request::builder().uri(path).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn over_the_limit_is_429_but_probes_still_pass() {
        let gate = Arc::new(tokio::sync::Notify::new());
        let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel();
        let router = Router::new()
            .route(
                "/slow",
                get({
                    let gate = gate.clone();
                    move || async move {
                        let _ = entered_tx.send(());
                        gate.notified().await;
                        "done"
                    }
                }),
            )
            .route("/livez", get(|| async { "ok" }));
        let filters = GenericFilters {
            max_requests_inflight: 1,
            request_timeout: Duration::from_secs(60),
            hsts_directives: vec![],
        };
        let app = filters.apply(router);
        let first = tokio::spawn(app.clone().oneshot(request("/slow")));
        entered.recv().await.unwrap();
        let second = app.clone().oneshot(request("/slow")).await.unwrap();
        assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(second.headers()[RETRY_AFTER], "1");
        let probe = app.clone().oneshot(request("/livez")).await.unwrap();
        assert_eq!(probe.status(), StatusCode::OK);
        gate.notify_waiters();
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_runs_too_long_gets_504() {
        let router = Router::new().route("/hang", get(std::future::pending::<&'static str>));
        let filters = GenericFilters {
            max_requests_inflight: 0,
            request_timeout: Duration::from_secs(60),
            hsts_directives: vec!["max-age=31536000".into(), "includeSubDomains".into()],
        };
        let answer = filters
            .apply(router)
            .oneshot(request("/hang"))
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(
            answer.headers()[STRICT_TRANSPORT_SECURITY],
            "max-age=31536000; includeSubDomains"
        );
        assert_eq!(answer.headers()[CACHE_CONTROL], "no-cache, private");
    }
}
