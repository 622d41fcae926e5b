//! The request's one parse, as the routes receive it.

use apimachinery::status::Status;
use axum::extract::FromRequestParts;
use axum::response::Response;
use http::request::Parts;

use crate::response;
use generic_apiserver::request_info::RequestInfo;

/// The [`RequestInfo`] the filter chain authorized, taken from the request extensions, so a
/// route serves exactly the namespace, name, selectors and watch flag that were checked.
///
/// Behind [`DelegatedSecurity::protect`](crate::DelegatedSecurity::protect) it is always there.
/// A router used without the chain (in-process tests) parses the request here with the same
/// function, which is the same parse on the same URI.
#[derive(Debug)]
pub struct Parsed(pub RequestInfo);

impl<S: Send + Sync> FromRequestParts<S> for Parsed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        if let Some(info) = parts.extensions.remove::<RequestInfo>() {
            return Ok(Parsed(info));
        }
        RequestInfo::from_parts(&parts.method, &parts.uri)
            .map(Parsed)
            .map_err(|error| {
                response::status(Status::bad_request(error.to_string()), &parts.headers)
            })
    }
}
