//! Trust taken from `kube-system/extension-apiserver-authentication`, read at start-up and
//! then followed through a watch: a new front-proxy CA works without a restart.

use generic_apiserver::{AuthenticationConfig, SecurityError};
use serde_json::json;
use testkit::pki::TestCa;

use crate::support::{
    FakeApiserver, Pki, echo_allowed, echo_router, eventually, kube_client, start,
};

fn configmap_data(client_ca: &TestCa, front_proxy_ca: &TestCa) -> serde_json::Value {
    json!({
        "client-ca-file": client_ca.cert_pem,
        "requestheader-client-ca-file": front_proxy_ca.cert_pem,
        "requestheader-allowed-names": "[\"front-proxy-client\"]",
        "requestheader-username-headers": "[\"X-Remote-User\"]",
        "requestheader-group-headers": "[\"X-Remote-Group\"]",
        "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]",
        "requestheader-uid-headers": "[]",
    })
}

async fn user_name(client: &reqwest::Client, url: &str) -> (u16, String) {
    let response = client
        .get(url)
        .header("X-Remote-User", "alice")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    (
        status,
        body["user"]["name"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn front_proxy_ca_rotates_through_the_configmap_without_restart() {
    let pki = Pki::new("rotation");
    let fake = FakeApiserver::new();
    fake.set_configmap(configmap_data(&pki.client_ca, &pki.front_proxy_ca));
    let (_apiserver, client) = fake.serve(&pki).await.unwrap();
    // No CA flags: everything comes from the ConfigMap.
    let server = start(
        pki.serving_config(),
        echo_router(),
        &AuthenticationConfig::default(),
        &echo_allowed(),
        Some(client),
    )
    .await
    .unwrap();
    let url = server.url("/echo");

    let old_proxy = pki.client(Some(
        &pki.front_proxy_ca
            .client("front-proxy-client", &[])
            .unwrap(),
    ));
    assert_eq!(user_name(&old_proxy, &url).await, (200, "alice".to_owned()));
    let client_user = pki.client(Some(&pki.client_ca.client("carol", &[]).unwrap()));
    assert_eq!(
        user_name(&client_user, &url).await,
        (200, "carol".to_owned())
    );

    let new_front_proxy_ca = TestCa::new("front-proxy-ca-2").unwrap();
    fake.set_configmap(configmap_data(&pki.client_ca, &new_front_proxy_ca));
    let new_proxy = pki.client(Some(
        &new_front_proxy_ca
            .client("front-proxy-client", &[])
            .unwrap(),
    ));
    let rotated =
        eventually(|| async { user_name(&new_proxy, &url).await == (200, "alice".to_owned()) })
            .await;
    assert!(rotated, "the new front-proxy CA was never accepted");
    assert_eq!(
        user_name(&old_proxy, &url).await.0,
        401,
        "the old front-proxy CA is no longer trusted"
    );
    assert_eq!(
        user_name(&client_user, &url).await,
        (200, "carol".to_owned())
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn failing_start_up_lookup_is_fatal_unless_tolerated() {
    let pki = Pki::new("lookup");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = kube_client(&format!("https://{closed}"), &pki).unwrap();
    let registry = prometheus::Registry::new();
    let shutdown = tokio_util::sync::CancellationToken::new();

    let strict = AuthenticationConfig::default();
    let error = generic_apiserver::DelegatedSecurity::start(
        &strict,
        Some(unreachable.clone()),
        &Default::default(),
        None,
        &registry,
        shutdown.clone(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, SecurityError::ConfigMapLookup(_)),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with("unable to load configmap based request-header-client-ca-file"),
        "{error}"
    );

    let tolerant = AuthenticationConfig {
        tolerate_lookup_failure: true,
        ..AuthenticationConfig::default()
    };
    let security = generic_apiserver::DelegatedSecurity::start(
        &tolerant,
        Some(unreachable),
        &Default::default(),
        None,
        &prometheus::Registry::new(),
        shutdown.clone(),
    )
    .await;
    assert!(security.is_ok());
    shutdown.cancel();
}

#[tokio::test]
async fn a_missing_configmap_is_not_an_error() {
    let pki = Pki::new("missing-cm");
    let fake = FakeApiserver::new();
    let (_apiserver, client) = fake.serve(&pki).await.unwrap();
    let server = start(
        pki.serving_config(),
        echo_router(),
        &AuthenticationConfig::default(),
        &echo_allowed(),
        Some(client),
    )
    .await
    .unwrap();
    // No CA is configured yet, so no certificate method applies (as in Go) and the
    // request is anonymous; the forged-looking header is ignored.
    let proxy = pki.client(Some(
        &pki.front_proxy_ca
            .client("front-proxy-client", &[])
            .unwrap(),
    ));
    assert_eq!(
        user_name(&proxy, &server.url("/echo")).await,
        (200, "system:anonymous".to_owned())
    );

    // Once the kube-apiserver publishes it, the watch picks it up.
    fake.set_configmap(configmap_data(&pki.client_ca, &pki.front_proxy_ca));
    let url = server.url("/echo");
    assert!(
        eventually(|| async { user_name(&proxy, &url).await == (200, "alice".to_owned()) }).await
    );
    server.stop().await.unwrap();
}
