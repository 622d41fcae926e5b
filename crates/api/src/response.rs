//! Writing answers the way the Go apiserver writes them: compact JSON with a trailing newline
//! (indented for `?pretty=true` and for curl/Wget/browser user agents), errors as `Status`.

use apimachinery::gojson;
use apimachinery::status::Status;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const JSON: &str = "application/json";

/// A `Status` error as the answer to a request with `headers` (JSON or protobuf, as the
/// client prefers).
pub fn status(status: Status, headers: &HeaderMap) -> Response {
    generic_apiserver::status_response(&status, headers)
}

/// Bytes of an object or list in `content_type` with 200.
pub fn ok(content_type: &'static str, body: Vec<u8>) -> Response {
    bytes(StatusCode::OK, content_type, body)
}

pub fn bytes(code: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut response = (code, body.into()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Serialises `value` as the apiserver would, or a 500 `Status` if that fails.
pub fn json(value: &impl Serialize, pretty: bool) -> Response {
    match to_json(value, pretty) {
        Ok(body) => bytes(StatusCode::OK, JSON, body),
        Err(error) => status(
            Status::internal_error(format!("failed to encode the response: {error}")),
            &HeaderMap::new(),
        ),
    }
}

/// Go's encoding: `<`, `>`, `&`, U+2028 and U+2029 escaped, a trailing newline.
pub fn to_json(value: &impl Serialize, pretty: bool) -> Result<Vec<u8>, serde_json::Error> {
    if pretty {
        let mut body = gojson::to_vec_pretty(value)?;
        body.push(b'\n');
        Ok(body)
    } else {
        gojson::to_vec_with_newline(value)
    }
}

/// Static JSON documents (discovery, version): re-indented only when asked for.
pub fn static_json(document: &'static [u8], pretty: bool) -> Response {
    if !pretty {
        return bytes(StatusCode::OK, JSON, document);
    }
    match serde_json::from_slice::<serde_json::Value>(document) {
        Ok(value) => json(&value, true),
        Err(_) => bytes(StatusCode::OK, JSON, document),
    }
}

/// Whether the client wants indented JSON: `?pretty=true`, or a user agent that is a person
/// at a terminal or browser (the Go apiserver's heuristic).
pub fn wants_pretty(pretty_param: Option<&str>, headers: &HeaderMap) -> bool {
    if let Some(value) = pretty_param {
        return matches!(value, "true" | "1" | "t" | "T" | "TRUE" | "True");
    }
    headers
        .get(header::USER_AGENT)
        .and_then(|agent| agent.to_str().ok())
        .is_some_and(|agent| {
            ["curl", "Wget", "Mozilla/5.0"]
                .iter()
                .any(|prefix| agent.starts_with(prefix))
        })
}

/// Any method other than GET on a served path.
pub async fn method_not_allowed(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    status(
        Status::method_not_allowed(method.as_str(), uri.path()),
        &headers,
    )
}
