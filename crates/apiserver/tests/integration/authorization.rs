//! Authorization through SubjectAccessReviews against the fake apiserver, plus the
//! requests that need none.

use std::sync::atomic::Ordering;

use generic_apiserver::AuthorizationConfig;
use serde_json::{Value, json};

use crate::support::{FakeApiserver, Pki, echo_router, fixture, kube_client, start};

async fn get(client: &reqwest::Client, url: String, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn allowed_and_denied_reviews() {
    let pki = Pki::new("sar");
    let fake = FakeApiserver::new();
    fake.allow_token("grafana", json!({"username": "system:serviceaccount:monitoring:grafana", "groups": ["system:serviceaccounts"]}));
    fake.allow_token(
        "default",
        json!({"username": "system:serviceaccount:default:default"}),
    );
    fake.allow_user("system:serviceaccount:monitoring:grafana");
    let (_apiserver, client) = fake.serve(&pki).await.unwrap();
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&[]),
        &AuthorizationConfig::default(),
        Some(client),
    )
    .await
    .unwrap();
    let http = pki.client(None);

    let (status, body) = get(
        &http,
        server.url("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb"),
        &[("Authorization", "Bearer grafana")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["info"],
        json!({"verb": "list", "resource": "pods", "name": "", "namespace": "default", "path": "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"})
    );
    let review = fake.last_access_review.lock().unwrap().clone().unwrap();
    assert_eq!(review["kind"], "SubjectAccessReview");
    assert_eq!(review["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(
        review["spec"],
        json!({
            "resourceAttributes": {
                "namespace": "default", "verb": "list", "group": "metrics.k8s.io", "version": "v1beta1", "resource": "pods",
                "labelSelector": {"requirements": [{"key": "app", "operator": "In", "values": ["web"]}]},
            },
            "user": "system:serviceaccount:monitoring:grafana",
            "groups": ["system:serviceaccounts", "system:authenticated"],
        })
    );

    let (status, body) = get(
        &http,
        server.url("/apis/metrics.k8s.io/v1beta1/nodes"),
        &[("Authorization", "Bearer default")],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body, fixture("status-403-forbidden.json"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn namespaced_get_denial_names_the_object() {
    let pki = Pki::new("sar-get");
    let fake = FakeApiserver::new();
    let (_apiserver, client) = fake.serve(&pki).await.unwrap();
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&[]),
        &AuthorizationConfig::default(),
        Some(client),
    )
    .await
    .unwrap();
    let alice = pki.client_ca.client("alice", &[]).unwrap();
    let (status, body) = get(
        &pki.client(Some(&alice)),
        server.url("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/redis-0"),
        &[],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body, fixture("status-403-forbidden-namespaced-get.json"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn system_masters_and_always_allowed_paths_skip_the_review() {
    let pki = Pki::new("no-sar");
    let fake = FakeApiserver::new();
    let (_apiserver, client) = fake.serve(&pki).await.unwrap();
    let config = AuthorizationConfig {
        always_allow_paths: vec!["/healthz".into(), "/debug/*".into()],
        ..AuthorizationConfig::default()
    };
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&["front-proxy-client"]),
        &config,
        Some(client),
    )
    .await
    .unwrap();
    let aggregator = pki
        .front_proxy_ca
        .client("front-proxy-client", &[])
        .unwrap();
    let (status, body) = get(
        &pki.client(Some(&aggregator)),
        server.url("/apis/metrics.k8s.io/v1beta1"),
        &[
            ("X-Remote-User", "system:kube-aggregator"),
            ("X-Remote-Group", "system:masters"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let anonymous = pki.client(None);
    assert_eq!(get(&anonymous, server.url("/healthz"), &[]).await.0, 200);
    assert_eq!(
        get(&anonymous, server.url("/healthz?verbose"), &[]).await.0,
        200
    );
    assert_eq!(
        get(&anonymous, server.url("/debug/pprof/heap"), &[])
            .await
            .0,
        200
    );
    assert_eq!(fake.access_reviews.load(Ordering::SeqCst), 0);

    // Exact entries do not cover sub-paths: those are reviewed (and denied here).
    let (status, body) = get(&anonymous, server.url("/healthz/ping"), &[]).await;
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        "forbidden: User \"system:anonymous\" cannot get path \"/healthz/ping\""
    );
    assert_eq!(fake.access_reviews.load(Ordering::SeqCst), 1);
    let review = fake.last_access_review.lock().unwrap().clone().unwrap();
    assert_eq!(
        review["spec"]["nonResourceAttributes"],
        json!({"path": "/healthz/ping", "verb": "get"})
    );
    assert_eq!(review["spec"]["groups"], json!(["system:unauthenticated"]));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_paths_are_authorized_before_the_router_answers() {
    let pki = Pki::new("unknown-path");
    let server = start(
        pki.serving_config(),
        axum::Router::new().route("/known", axum::routing::get(|| async { "ok" })),
        &pki.authentication_flags(&[]),
        &AuthorizationConfig::default(),
        None,
    )
    .await
    .unwrap();
    let (status, body) = get(&pki.client(None), server.url("/unknown"), &[]).await;
    assert_eq!(status, 403, "{body}");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_review_is_never_an_allow_and_is_retried() {
    let pki = Pki::new("sar-down");
    let fake = FakeApiserver::new();
    fake.allow_user("carol");
    *fake.fail_with.lock().unwrap() = Some(http::StatusCode::INTERNAL_SERVER_ERROR);
    let (_apiserver, client) = fake.serve(&pki).await.unwrap();
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&[]),
        &AuthorizationConfig::default(),
        Some(client),
    )
    .await
    .unwrap();
    let carol = pki.client_ca.client("carol", &[]).unwrap();
    let http = pki.client(Some(&carol));
    let url = server.url("/apis/metrics.k8s.io/v1beta1/nodes");

    let (status, body) = get(&http, url.clone(), &[]).await;
    assert_eq!(status, 503);
    assert_eq!(body["reason"], "ServiceUnavailable");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("authorization could not be completed: the SubjectAccessReview failed"),
        "{body}"
    );

    *fake.fail_with.lock().unwrap() = None;
    assert_eq!(get(&http, url, &[]).await.0, 200);
    assert_eq!(fake.access_reviews.load(Ordering::SeqCst), 2);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_apiserver_never_authorizes() {
    let pki = Pki::new("sar-unreachable");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = kube_client(&format!("https://{closed}"), &pki).unwrap();
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&[]),
        &AuthorizationConfig::default(),
        Some(client),
    )
    .await
    .unwrap();
    let carol = pki.client_ca.client("carol", &[]).unwrap();
    let (status, body) = get(
        &pki.client(Some(&carol)),
        server.url("/apis/metrics.k8s.io/v1beta1/nodes"),
        &[],
    )
    .await;
    assert_eq!(status, 503, "{body}");
    server.stop().await.unwrap();
}
