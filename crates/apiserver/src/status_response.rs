//! `metav1.Status` errors as HTTP responses, in the encoding the client prefers (JSON or
//! Kubernetes protobuf), as the Go apiserver's `ErrorNegotiated` writes them.

use apimachinery::negotiate::{ObjectOutput, negotiate_status_encoding};
use apimachinery::protobuf;
use apimachinery::status::Status;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};

/// `status` as the answer to a request with `headers`: its HTTP code, the body in the
/// negotiated encoding (JSON when the client accepts neither).
pub fn status_response(status: &Status, headers: &HeaderMap) -> Response {
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok());
    let (content_type, body) = match negotiate_status_encoding(accept) {
        ObjectOutput::Protobuf => (protobuf::CONTENT_TYPE, status.to_protobuf()),
        _ => ("application/json", status.to_json()),
    };
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut answer = (code, Body::from(body)).into_response();
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_follow_the_clients_preference() {
        let status = Status::not_found("metrics.k8s.io", "nodemetrics", "n");
        let mut headers = HeaderMap::new();
        let json = status_response(&status, &headers);
        assert_eq!(json.status(), StatusCode::NOT_FOUND);
        assert_eq!(json.headers()[CONTENT_TYPE], "application/json");
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.kubernetes.protobuf, */*"),
        );
        let proto = status_response(&status, &headers);
        assert_eq!(proto.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            proto.headers()[CONTENT_TYPE],
            "application/vnd.kubernetes.protobuf"
        );
        let body = axum::body::to_bytes(proto.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        assert_eq!(body.as_ref(), status.to_protobuf().as_slice());
    }
}
