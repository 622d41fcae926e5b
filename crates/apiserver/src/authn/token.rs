//! Bearer tokens, checked by a TokenReview (authentication.k8s.io/v1) and cached.
//!
//! Cache keys are a salted SHA-256 of the token, so the cache never holds a usable
//! credential. Answers — authenticated *and* rejected — live for
//! `--authentication-token-webhook-cache-ttl`; failures to get an answer are not
//! remembered, so the next request asks again.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use sha2::{Digest, Sha256};

use super::Attempt;
use super::user::UserInfo;
use crate::delegated::{DecisionCache, DelegatedCheckError, ReviewClient};
use crate::metrics::{Review, SecurityMetrics};

const TOKEN_REVIEW_PATH: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
/// Go's `invalidToken` error text.
const INVALID_BEARER_TOKEN: &str = "invalid bearer token";

/// A TokenReview's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Authenticated(UserInfo),
    Rejected(String),
}

/// Settings of the token authenticator.
#[derive(Debug, Clone)]
pub(crate) struct TokenSettings {
    pub(crate) cache_ttl: Duration,
    pub(crate) cache_capacity: u64,
    pub(crate) timeout: Duration,
}

/// Reviews bearer tokens through the kube-apiserver.
pub(crate) struct TokenAuthenticator {
    reviews: ReviewClient,
    cache: DecisionCache<[u8; 32], Verdict>,
    settings: TokenSettings,
    salt: [u8; 32],
    metrics: Arc<SecurityMetrics>,
}

impl std::fmt::Debug for TokenAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAuthenticator")
            .field("settings", &self.settings)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl TokenAuthenticator {
    pub(crate) fn new(
        client: kube::Client,
        settings: TokenSettings,
        metrics: Arc<SecurityMetrics>,
    ) -> Self {
        TokenAuthenticator {
            reviews: ReviewClient::new(client, settings.timeout, metrics.clone(), Review::Token),
            cache: DecisionCache::new(settings.cache_capacity, settings.cache_ttl),
            settings,
            salt: rand::random(),
            metrics,
        }
    }

    /// Authenticates the request's bearer token, if it has one. On success the
    /// `Authorization` header is removed, as Go does.
    pub(crate) async fn authenticate(&self, headers: &mut HeaderMap) -> Attempt {
        let Some(token) = bearer_token(headers) else {
            return Attempt::NotApplicable;
        };
        let key = self.cache_key(&token);
        let ttl = self.settings.cache_ttl;
        let (verdict, hit) = self
            .cache
            .get_or_fetch(key, |_| ttl, self.review(token))
            .await;
        self.metrics.cache_lookup(Review::Token, hit);
        match verdict {
            Ok(Verdict::Authenticated(user)) => {
                headers.remove(AUTHORIZATION);
                Attempt::Authenticated(user)
            }
            Ok(Verdict::Rejected(reason)) => Attempt::Rejected(reason),
            Err(error) => Attempt::Unavailable(error),
        }
    }

    fn cache_key(&self, token: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.salt);
        hasher.update(token.as_bytes());
        hasher.finalize().into()
    }

    async fn review(&self, token: String) -> Result<Verdict, DelegatedCheckError> {
        let request = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token),
                audiences: None,
            },
            ..TokenReview::default()
        };
        let answer: TokenReview = self.reviews.post(TOKEN_REVIEW_PATH, &request).await?;
        Ok(verdict(answer))
    }
}

fn verdict(answer: TokenReview) -> Verdict {
    let status = answer.status.unwrap_or_default();
    if status.authenticated != Some(true) {
        let reason = status
            .error
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| INVALID_BEARER_TOKEN.to_owned());
        return Verdict::Rejected(reason);
    }
    let user = status.user.unwrap_or_default();
    Verdict::Authenticated(UserInfo {
        name: user.username.unwrap_or_default(),
        uid: user.uid.unwrap_or_default(),
        groups: user.groups.unwrap_or_default(),
        extra: user.extra.unwrap_or_default(),
    })
}

/// Go's `bearertoken` parsing: `Bearer <token>` (scheme case-insensitive), exactly one
/// space, non-empty token.
fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let mut parts = value.splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn bearer_tokens_are_parsed_like_go() {
        assert_eq!(
            bearer_token(&with_authorization("Bearer abc")).as_deref(),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&with_authorization("bearer abc")).as_deref(),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&with_authorization("  Bearer abc  ")).as_deref(),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&with_authorization("Bearer abc def")).as_deref(),
            Some("abc")
        );
        assert_eq!(bearer_token(&with_authorization("Bearer  abc")), None);
        assert_eq!(bearer_token(&with_authorization("Bearer")), None);
        assert_eq!(bearer_token(&with_authorization("Basic abc")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn fixture_answers_become_verdicts() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../testkit/fixtures/");
        let read = |name: &str| -> TokenReview {
            serde_json::from_slice(&std::fs::read(format!("{fixtures}{name}")).unwrap()).unwrap()
        };
        let Verdict::Authenticated(user) = verdict(read("tokenreview-response.json")) else {
            panic!("expected authenticated");
        };
        assert_eq!(user.name, "system:serviceaccount:monitoring:grafana");
        assert_eq!(user.uid, "4d2b8f0e-91c3-4a57-b6e2-3f8a1c9d7e20");
        assert_eq!(user.groups.len(), 3);
        assert_eq!(user.extra.len(), 5);
        assert_eq!(
            verdict(read("tokenreview-response-unauthenticated.json")),
            Verdict::Rejected("[invalid bearer token, token lookup failed]".to_owned())
        );
        assert_eq!(
            verdict(TokenReview::default()),
            Verdict::Rejected(INVALID_BEARER_TOKEN.to_owned())
        );
    }

    #[test]
    fn request_body_matches_the_fixture_shape() {
        let request = TokenReview {
            spec: TokenReviewSpec {
                token: Some("t".into()),
                audiences: None,
            },
            ..TokenReview::default()
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["kind"], "TokenReview");
        assert_eq!(json["apiVersion"], "authentication.k8s.io/v1");
        assert_eq!(json["spec"], serde_json::json!({"token": "t"}));
    }
}
