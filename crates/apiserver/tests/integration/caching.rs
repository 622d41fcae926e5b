//! Cache lifetimes of TokenReview and SubjectAccessReview answers, on paused time with an
//! in-process fake apiserver (a tower service behind `kube::Client`, no sockets, so the
//! paused clock only moves when the test says so).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use generic_apiserver::authn::Authenticator;
use generic_apiserver::authz::{AuthorizationFailure, Authorizer};
use generic_apiserver::{
    AuthenticationConfig, AuthorizationConfig, RequestInfo, SecurityMetrics, UserInfo,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Counts reviews; authenticates token `good` as `erin` and allows SARs for `erin` only.
fn in_process_apiserver(calls: Arc<AtomicUsize>) -> kube::Client {
    let service = tower::service_fn(move |request: Request<kube::client::Body>| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let path = request.uri().path().to_owned();
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let mut review: Value = serde_json::from_slice(&body).unwrap();
            review["status"] = if path.ends_with("/tokenreviews") {
                if review["spec"]["token"] == "good" {
                    json!({"authenticated": true, "user": {"username": "erin"}})
                } else {
                    json!({"user": {}})
                }
            } else {
                json!({"allowed": review["spec"]["user"] == "erin"})
            };
            let response = Response::builder()
                .status(201)
                .body(Full::new(Bytes::from(serde_json::to_vec(&review).unwrap())))
                .unwrap();
            Ok::<_, Infallible>(response)
        }
    });
    kube::Client::new(service, "default")
}

fn metrics() -> Arc<SecurityMetrics> {
    Arc::new(SecurityMetrics::register(&prometheus::Registry::new()).unwrap())
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

async fn authenticator(calls: &Arc<AtomicUsize>) -> Authenticator {
    let config = AuthenticationConfig {
        skip_lookup: true,
        ..AuthenticationConfig::default()
    };
    Authenticator::start(
        &config,
        Some(in_process_apiserver(calls.clone())),
        metrics(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn token_reviews_are_remembered_for_ten_seconds() {
    let calls = Arc::new(AtomicUsize::new(0));
    let authn = authenticator(&calls).await;

    let user = authn.authenticate(&mut bearer("good"), &[]).await.unwrap();
    assert_eq!(user.name, "erin");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert_eq!(
        authn
            .authenticate(&mut bearer("good"), &[])
            .await
            .unwrap()
            .name,
        "erin"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "second request within 10 s is a cache hit"
    );

    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(
        authn
            .authenticate(&mut bearer("good"), &[])
            .await
            .unwrap()
            .name,
        "erin"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "after 10 s the apiserver is asked again"
    );
}

#[tokio::test(start_paused = true)]
async fn rejected_tokens_are_remembered_too() {
    let calls = Arc::new(AtomicUsize::new(0));
    let authn = authenticator(&calls).await;
    for _ in 0..3 {
        assert!(authn.authenticate(&mut bearer("bad"), &[]).await.is_err());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(authn.authenticate(&mut bearer("bad"), &[]).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn concurrent_identical_tokens_share_one_review() {
    let calls = Arc::new(AtomicUsize::new(0));
    let authn = Arc::new(authenticator(&calls).await);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let authn = authn.clone();
            tokio::spawn(async move { authn.authenticate(&mut bearer("good"), &[]).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().name, "erin");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

fn list_nodes() -> RequestInfo {
    RequestInfo::from_parts(
        &Method::GET,
        &Uri::from_static("/apis/metrics.k8s.io/v1beta1/nodes"),
    )
    .unwrap()
}

fn user(name: &str) -> UserInfo {
    UserInfo {
        name: name.to_owned(),
        groups: vec!["system:authenticated".to_owned()],
        ..UserInfo::default()
    }
}

#[tokio::test(start_paused = true)]
async fn allowed_and_denied_decisions_have_their_own_ttls() {
    let calls = Arc::new(AtomicUsize::new(0));
    let config = AuthorizationConfig {
        allowed_cache_ttl: Duration::from_secs(10),
        denied_cache_ttl: Duration::from_secs(5),
        ..AuthorizationConfig::default()
    };
    let authz = Authorizer::new(
        &config,
        Some(in_process_apiserver(calls.clone())),
        metrics(),
    )
    .unwrap();

    assert_eq!(authz.authorize(&user("erin"), &list_nodes()).await, Ok(()));
    assert_eq!(
        authz.authorize(&user("frank"), &list_nodes()).await,
        Err(AuthorizationFailure::Forbidden(String::new()))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(authz.authorize(&user("erin"), &list_nodes()).await.is_ok());
    assert!(
        authz
            .authorize(&user("frank"), &list_nodes())
            .await
            .is_err()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3, "only the denial expired");

    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(authz.authorize(&user("erin"), &list_nodes()).await.is_ok());
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "the allow expired after 10 s"
    );
}

#[tokio::test(start_paused = true)]
async fn masters_never_cause_a_review() {
    let calls = Arc::new(AtomicUsize::new(0));
    let authz = Authorizer::new(
        &AuthorizationConfig::default(),
        Some(in_process_apiserver(calls.clone())),
        metrics(),
    )
    .unwrap();
    let mut aggregator = user("system:kube-aggregator");
    aggregator.groups.push("system:masters".to_owned());
    assert_eq!(authz.authorize(&aggregator, &list_nodes()).await, Ok(()));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
