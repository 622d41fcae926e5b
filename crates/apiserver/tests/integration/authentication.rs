//! The authentication chain seen from a client: front proxy, client certificates,
//! bearer tokens, anonymous, and forged identity headers.

use serde_json::{Value, json};

use crate::support::{FakeApiserver, Pki, echo_allowed, echo_router, fixture, start};

async fn echo(client: &reqwest::Client, url: String, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

const PROXY_HEADERS: &[(&str, &str)] = &[
    ("X-Remote-User", "alice"),
    ("X-Remote-Uid", "uid-42"),
    ("X-Remote-Group", "developers"),
    ("X-Remote-Group", "team,with,commas"),
    (
        "X-Remote-Extra-Authentication.kubernetes.io%2fcredential-Id",
        "X509SHA256=abc",
    ),
    ("X-Remote-Extra-Scopes", "view"),
    ("X-Remote-Extra-Scopes", "edit"),
];

#[tokio::test]
async fn front_proxy_with_an_allowed_cn_speaks_for_the_user() {
    let pki = Pki::new("proxy-allowed");
    let mut flags = pki.authentication_flags(&["front-proxy-client"]);
    // Go's default uid header list is empty; the aggregator's `X-Remote-Uid` counts only when configured.
    flags.request_header.uid_headers = vec!["X-Remote-Uid".into()];
    let server = start(
        pki.serving_config(),
        echo_router(),
        &flags,
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let proxy = pki
        .front_proxy_ca
        .client("front-proxy-client", &[])
        .unwrap();
    let (status, body) = echo(
        &pki.client(Some(&proxy)),
        server.url("/echo"),
        PROXY_HEADERS,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user"],
        json!({
            "name": "alice",
            "uid": "uid-42",
            "groups": ["developers", "team,with,commas", "system:authenticated"],
            "extra": {
                "authentication.kubernetes.io/credential-id": ["X509SHA256=abc"],
                "scopes": ["view", "edit"],
            },
        })
    );
    // The handler never sees the identity headers.
    assert_eq!(body["identityHeaders"], json!([]));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn front_proxy_with_a_cn_not_allowed_is_unauthorized() {
    let pki = Pki::new("proxy-denied");
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&["front-proxy-client"]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let impostor = pki
        .front_proxy_ca
        .client("not-the-aggregator", &[])
        .unwrap();
    let (status, body) = echo(
        &pki.client(Some(&impostor)),
        server.url("/echo"),
        PROXY_HEADERS,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body, fixture("status-401-unauthorized.json"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn empty_allowed_names_accept_any_cn_from_the_request_header_ca() {
    let pki = Pki::new("proxy-any");
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let proxy = pki.front_proxy_ca.client("some-other-proxy", &[]).unwrap();
    let (status, body) = echo(
        &pki.client(Some(&proxy)),
        server.url("/echo"),
        PROXY_HEADERS,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["name"], "alice");
    assert_eq!(
        body["user"]["uid"], "",
        "uid headers are not configured by default"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn forged_identity_headers_are_ignored_without_a_front_proxy_certificate() {
    let pki = Pki::new("spoofing");
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&["front-proxy-client"]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let forged = &[
        ("X-Remote-User", "system:admin"),
        ("X-Remote-Group", "system:masters"),
        ("X-Remote-Extra-Foo", "bar"),
    ];

    // No certificate: anonymous, and the forged headers are gone.
    let (status, body) = echo(&pki.client(None), server.url("/echo"), forged).await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["name"], "system:anonymous");
    assert_eq!(body["user"]["groups"], json!(["system:unauthenticated"]));
    assert_eq!(body["identityHeaders"], json!([]));

    // A plain client certificate: the certificate's identity, not the headers'.
    let bob = pki.client_ca.client("bob", &["viewers"]).unwrap();
    let (status, body) = echo(&pki.client(Some(&bob)), server.url("/echo"), forged).await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["name"], "bob");
    assert_eq!(
        body["user"]["groups"],
        json!(["viewers", "system:authenticated"])
    );
    assert_eq!(body["identityHeaders"], json!([]));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn client_ca_certificates_give_cn_and_organizations() {
    let pki = Pki::new("client-ca");
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let carol = pki.client_ca.client("carol", &["ops"]).unwrap();
    let (status, body) = echo(&pki.client(Some(&carol)), server.url("/echo"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["name"], "carol");
    assert_eq!(
        body["user"]["groups"],
        json!(["ops", "system:authenticated"])
    );
    let credential = body["user"]["extra"]["authentication.kubernetes.io/credential-id"][0]
        .as_str()
        .unwrap();
    assert!(
        credential.starts_with("X509SHA256=") && credential.len() == 11 + 64,
        "{credential}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn certificates_from_unknown_cas_are_unauthorized() {
    let pki = Pki::new("rogue");
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        None,
    )
    .await
    .unwrap();
    let rogue_ca = testkit::pki::TestCa::new("kubernetes").unwrap();
    let mallory = rogue_ca
        .client("front-proxy-client", &["system:masters"])
        .unwrap();
    let (status, body) = echo(
        &pki.client(Some(&mallory)),
        server.url("/echo"),
        &[("X-Remote-User", "admin")],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body, fixture("status-401-unauthorized.json"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bearer_tokens_are_reviewed_by_the_apiserver() {
    let pki = Pki::new("tokens");
    let fake = FakeApiserver::new();
    let grafana = fixture("tokenreview-response.json")["status"]["user"].clone();
    fake.allow_token("good-token", grafana);
    let (_apiserver, client) = fake.serve(&pki).await.unwrap();
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        Some(client),
    )
    .await
    .unwrap();
    let http = pki.client(None);

    let (status, body) = echo(
        &http,
        server.url("/echo"),
        &[("Authorization", "Bearer good-token")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user"]["name"],
        "system:serviceaccount:monitoring:grafana"
    );
    assert_eq!(body["user"]["uid"], "4d2b8f0e-91c3-4a57-b6e2-3f8a1c9d7e20");
    // Already in the list, so not added twice.
    assert_eq!(
        body["user"]["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:monitoring",
            "system:authenticated"
        ])
    );
    assert_eq!(
        body["user"]["extra"]["authentication.kubernetes.io/pod-name"],
        json!(["grafana-5c8d7b9f6-qwz4t"])
    );
    // The used token is not passed on.
    assert_eq!(body["identityHeaders"], json!([]));

    let (status, body) = echo(
        &http,
        server.url("/echo"),
        &[("Authorization", "Bearer bad-token")],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body, fixture("status-401-unauthorized.json"));
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_apiserver_never_authenticates() {
    let pki = Pki::new("token-down");
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let client = crate::support::kube_client(&format!("https://{closed}"), &pki).unwrap();
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        Some(client),
    )
    .await
    .unwrap();
    let response = pki
        .client(None)
        .get(server.url("/echo"))
        .bearer_auth("any-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "ServiceUnavailable");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("authentication could not be completed: the TokenReview failed"),
        "{message}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn apiserver_errors_are_not_cached_and_retried_on_the_next_request() {
    let pki = Pki::new("token-500");
    let fake = FakeApiserver::new();
    fake.allow_token("good-token", json!({"username": "dave"}));
    *fake.fail_with.lock().unwrap() = Some(http::StatusCode::INTERNAL_SERVER_ERROR);
    let (_apiserver, client) = fake.serve(&pki).await.unwrap();
    let server = start(
        pki.serving_config(),
        echo_router(),
        &pki.authentication_flags(&[]),
        &echo_allowed(),
        Some(client),
    )
    .await
    .unwrap();
    let http = pki.client(None);
    let auth = [("Authorization", "Bearer good-token")];

    let (status, body) = echo(&http, server.url("/echo"), &auth).await;
    assert_eq!(status, 503);
    // The caller is not authenticated: the kube-apiserver's error text is not theirs to read.
    assert_eq!(
        body["message"],
        "authentication could not be completed: the TokenReview failed; retry the request",
        "{body}"
    );
    assert!(!body.to_string().contains("etcdserver"), "{body}");

    *fake.fail_with.lock().unwrap() = None;
    let (status, body) = echo(&http, server.url("/echo"), &auth).await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["name"], "dave");
    assert_eq!(
        fake.token_reviews.load(std::sync::atomic::Ordering::SeqCst),
        2
    );

    let metrics = prometheus::TextEncoder::new()
        .encode_to_string(&server.registry.gather())
        .unwrap();
    assert!(
        metrics.contains("apiserver_delegated_authn_request_total{code=\"500\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("apiserver_delegated_authn_request_total{code=\"201\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("authentication_attempts{result=\"error\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("authentication_attempts{result=\"success\"} 1"),
        "{metrics}"
    );
    server.stop().await.unwrap();
}
