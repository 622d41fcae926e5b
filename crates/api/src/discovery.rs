//! Discovery, version and OpenAPI documents, and the 404 for paths nobody serves.
//!
//! `GET /apis/metrics.k8s.io/v1beta1` matters most: the aggregator's availability probe and its
//! legacy discovery fallback both request it, and it is answered before the first scrape.

use apimachinery::negotiate::{DiscoveryOutput, negotiate_discovery_output};
use apimachinery::status::Status;
use axum::extract::{OriginalUri, RawQuery};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_types::{ApiVersion, discovery, openapi};

use crate::response;
use generic_apiserver::percent;
use generic_apiserver::request_info::ListOptions;

/// Every path served, as the Go apiserver lists them in its `RootPaths` answer.
const ROOT_PATHS: &[&str] = &[
    "/apis",
    "/apis/metrics.k8s.io",
    "/apis/metrics.k8s.io/v1",
    "/apis/metrics.k8s.io/v1beta1",
    "/healthz",
    "/healthz/log",
    "/healthz/metadata-informer-sync",
    "/healthz/ping",
    "/healthz/poststarthook/max-in-flight-filter",
    "/healthz/poststarthook/storage-object-count-tracker-hook",
    "/livez",
    "/livez/log",
    "/livez/metadata-informer-sync",
    "/livez/metric-collection-timely",
    "/livez/ping",
    "/livez/poststarthook/max-in-flight-filter",
    "/livez/poststarthook/storage-object-count-tracker-hook",
    "/metrics",
    "/openapi/v2",
    "/openapi/v3",
    "/openapi/v3/",
    "/readyz",
    "/readyz/log",
    "/readyz/metadata-informer-sync",
    "/readyz/metric-informer-sync",
    "/readyz/metric-storage-ready",
    "/readyz/ping",
    "/readyz/poststarthook/max-in-flight-filter",
    "/readyz/poststarthook/storage-object-count-tracker-hook",
    "/readyz/shutdown",
    "/version",
];

fn root_paths_body(pretty: bool) -> Response {
    response::json(&serde_json::json!({ "paths": ROOT_PATHS }), pretty)
}

fn pretty(query: &Option<String>, headers: &HeaderMap) -> bool {
    let options = ListOptions::from_query(query.as_deref().unwrap_or(""));
    response::wants_pretty(options.pretty.as_deref(), headers)
}

pub async fn root_paths(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    root_paths_body(pretty(&query, &headers))
}

/// Upstream answers unknown paths with 404 and the same `RootPaths` body.
pub async fn not_found(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let mut answer = root_paths_body(pretty(&query, &headers));
    *answer.status_mut() = StatusCode::NOT_FOUND;
    answer
}

/// `/apis`: the legacy `APIGroupList`, or aggregated discovery (v2) when the Accept header asks.
pub async fn apis(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let Some(negotiated) = negotiate_discovery_output(accept) else {
        return response::status(
            Status::not_acceptable(&[
                "application/json",
                discovery::AGGREGATED_DISCOVERY_CONTENT_TYPE,
            ]),
            &headers,
        );
    };
    let pretty = negotiated.pretty || pretty(&query, &headers);
    match negotiated.output {
        DiscoveryOutput::Legacy => response::static_json(discovery::api_group_list(), pretty),
        DiscoveryOutput::Aggregated => {
            let mut answer = cached_document(
                &headers,
                discovery::AGGREGATED_DISCOVERY_CONTENT_TYPE,
                discovery::aggregated_discovery(),
            );
            let headers = answer.headers_mut();
            headers.insert(header::VARY, HeaderValue::from_static("Accept"));
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public"));
            answer
        }
    }
}

pub async fn api_group(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    response::static_json(discovery::api_group(), pretty(&query, &headers))
}

/// The served version a path is under (`/apis/metrics.k8s.io/v1/...`, `/openapi/v3/apis/...`);
/// the routes only send paths of served versions here.
fn version_in(path: &str) -> ApiVersion {
    path.trim_end_matches('/')
        .rsplit('/')
        .find_map(ApiVersion::from_version)
        .unwrap_or_default()
}

pub async fn api_resources(
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let version = version_in(uri.path());
    response::static_json(
        discovery::api_resource_list(version),
        pretty(&query, &headers),
    )
}

pub async fn version(RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    response::static_json(discovery::version_info(), pretty(&query, &headers))
}

/// A document with an ETag, answered 304 when the client already holds it.
fn cached_document(
    headers: &HeaderMap,
    content_type: &'static str,
    body: &'static [u8],
) -> Response {
    let etag = discovery::etag(body);
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tag| tag == etag);
    let mut answer = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        response::bytes(StatusCode::OK, content_type, body)
    };
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        answer.headers_mut().insert(header::ETAG, etag);
    }
    answer
}

pub async fn openapi_v2(headers: HeaderMap) -> Response {
    cached_document(&headers, response::JSON, openapi::v2())
}

pub async fn openapi_v3(headers: HeaderMap) -> Response {
    cached_document(&headers, response::JSON, openapi::v3_root())
}

/// The group-version document, addressed by content hash from the v3 root: a current hash may
/// be cached forever; a stale one is redirected to the current address, as Go does.
pub async fn openapi_v3_group_version(
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let version = version_in(uri.path());
    let current = openapi::v3_group_version_hash(version);
    let requested =
        percent::query_pairs(query.as_deref().unwrap_or("")).find(|(key, _)| key == "hash");
    match requested {
        Some((_, hash)) if hash == current => {
            let mut answer = response::bytes(
                StatusCode::OK,
                response::JSON,
                openapi::v3_group_version(version),
            );
            answer.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, immutable"),
            );
            answer
        }
        Some(_) => {
            let location = format!("{}?hash={current}", openapi::v3_group_version_path(version));
            let mut answer = StatusCode::MOVED_PERMANENTLY.into_response();
            if let Ok(location) = HeaderValue::from_str(&location) {
                answer.headers_mut().insert(header::LOCATION, location);
            }
            answer
        }
        None => cached_document(&headers, response::JSON, openapi::v3_group_version(version)),
    }
}
