//! Plumbing shared by the two delegated checks (TokenReview and SubjectAccessReview):
//! one rate-limited POST to the kube-apiserver with a deadline and metrics, and the
//! short-lived decision cache in front of it.
//!
//! The rate limit is Go's for its delegating authentication and authorization clients (QPS
//! 200, burst 400, one budget for each check): a flood of requests with random tokens or
//! never-seen attributes misses every cache, and without the limit each miss would become a
//! review the kube-apiserver has to answer.
//!
//! Expiry is judged on tokio's clock (not moka's), so paused-time tests can step over a
//! TTL deterministically; moka still evicts in real time and bounds the size.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::header::{ACCEPT, CONTENT_TYPE};
use http_body_util::{BodyExt, Limited};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::{Instant, timeout_at};

use crate::metrics::{Review, SecurityMetrics};

/// Reviews are small; anything bigger than this is not a review.
const MAX_REVIEW_BODY_BYTES: usize = 1024 * 1024;

/// Reviews per second one check may send, and how many it may send at once after a quiet
/// spell (client-go's `QPS` and `Burst` on Go's delegating clients).
pub(crate) const REVIEW_QPS: u32 = 200;
pub(crate) const REVIEW_BURST: u32 = 400;

/// Why a delegated check produced no answer. Never cached, never treated as an allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DelegatedCheckError {
    /// No answer within the deadline.
    #[error("no answer from the kube-apiserver within {0:?}")]
    Timeout(Duration),
    /// The request could not be sent or the answer not read.
    #[error("request to the kube-apiserver failed: {0}")]
    Transport(String),
    /// The kube-apiserver answered with a non-success status.
    #[error("the kube-apiserver answered {code}: {message}")]
    Status {
        /// HTTP status.
        code: u16,
        /// The `Status.message`, or the raw body start.
        message: String,
    },
    /// The answer was not the expected JSON object.
    #[error("unreadable answer from the kube-apiserver: {0}")]
    Decode(String),
    /// The check's request budget stayed spent for the whole deadline (a flood of requests
    /// that no cache answers).
    #[error("too many reviews in flight: no request budget within {0:?}")]
    Throttled(Duration),
}

/// Sends one kind of review to the kube-apiserver, within its rate limit and deadline.
pub(crate) struct ReviewClient {
    client: kube::Client,
    limiter: DefaultDirectRateLimiter,
    timeout: Duration,
    metrics: Arc<SecurityMetrics>,
    review: Review,
}

impl std::fmt::Debug for ReviewClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReviewClient")
            .field("review", &self.review)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ReviewClient {
    /// A client allowed [`REVIEW_QPS`] reviews a second with bursts of [`REVIEW_BURST`].
    pub(crate) fn new(
        client: kube::Client,
        timeout: Duration,
        metrics: Arc<SecurityMetrics>,
        review: Review,
    ) -> Self {
        let per_second = NonZeroU32::new(REVIEW_QPS).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(REVIEW_BURST).unwrap_or(per_second);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        ReviewClient::with_quota(client, timeout, metrics, review, quota)
    }

    fn with_quota(
        client: kube::Client,
        timeout: Duration,
        metrics: Arc<SecurityMetrics>,
        review: Review,
        quota: Quota,
    ) -> Self {
        ReviewClient {
            client,
            limiter: RateLimiter::direct(quota),
            timeout,
            metrics,
            review,
        }
    }

    /// POSTs `body` as JSON to `path` and decodes the JSON answer. Waiting for the rate limit
    /// counts against the deadline, as a client-go request's context does.
    pub(crate) async fn post<Req, Resp>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, DelegatedCheckError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let deadline = Instant::now() + self.timeout;
        if timeout_at(deadline, self.limiter.until_ready())
            .await
            .is_err()
        {
            self.metrics
                .delegated_request(self.review, "<throttled>", self.timeout);
            return Err(DelegatedCheckError::Throttled(self.timeout));
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        post_review(
            &self.client,
            path,
            body,
            remaining,
            &self.metrics,
            self.review,
        )
        .await
    }
}

/// POSTs `body` as JSON to `path` and decodes the JSON answer, within `timeout`.
async fn post_review<Req, Resp>(
    client: &kube::Client,
    path: &str,
    body: &Req,
    timeout: Duration,
    metrics: &SecurityMetrics,
    review: Review,
) -> Result<Resp, DelegatedCheckError>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    let payload =
        serde_json::to_vec(body).map_err(|e| DelegatedCheckError::Decode(e.to_string()))?;
    let request = http::Request::post(path)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .body(kube::client::Body::from(payload))
        .map_err(|e| DelegatedCheckError::Transport(e.to_string()))?;

    let started = Instant::now();
    let exchange = async {
        let response = client
            .send(request)
            .await
            .map_err(|e| DelegatedCheckError::Transport(e.to_string()))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_REVIEW_BODY_BYTES)
            .collect()
            .await
            .map(|collected| collected.to_bytes());
        Ok::<_, DelegatedCheckError>((status, body))
    };
    let outcome = tokio::time::timeout(timeout, exchange).await;
    let elapsed = started.elapsed();
    let (status, body) = match outcome {
        Err(_) => {
            metrics.delegated_request(review, "<error>", elapsed);
            return Err(DelegatedCheckError::Timeout(timeout));
        }
        Ok(Err(error)) => {
            metrics.delegated_request(review, "<error>", elapsed);
            return Err(error);
        }
        Ok(Ok(answer)) => answer,
    };
    metrics.delegated_request(review, status.as_str(), elapsed);
    let body =
        body.map_err(|e| DelegatedCheckError::Transport(format!("reading the answer: {e}")))?;
    if !status.is_success() {
        return Err(DelegatedCheckError::Status {
            code: status.as_u16(),
            message: status_message(&body),
        });
    }
    serde_json::from_slice(&body).map_err(|e| DelegatedCheckError::Decode(e.to_string()))
}

/// The `message` of a `metav1.Status` body, or a short excerpt of whatever came back.
fn status_message(body: &Bytes) -> String {
    #[derive(serde::Deserialize)]
    struct StatusMessage {
        message: String,
    }
    match serde_json::from_slice::<StatusMessage>(body) {
        Ok(status) => status.message,
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

/// Answers remembered until their own expiry; failures are never stored.
pub(crate) struct DecisionCache<K, V> {
    entries: Option<moka::future::Cache<K, Arc<Expiring<V>>>>,
}

impl<K, V> std::fmt::Debug for DecisionCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionCache")
            .field("entries", &self.entries.as_ref().map(|c| c.entry_count()))
            .finish()
    }
}

struct Expiring<V> {
    value: V,
    expires_at: Instant,
}

impl<K, V> DecisionCache<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache of at most `capacity` answers living at most `longest_ttl`;
    /// a zero `longest_ttl` disables caching.
    pub(crate) fn new(capacity: u64, longest_ttl: Duration) -> Self {
        let entries = (!longest_ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(longest_ttl)
                .build()
        });
        DecisionCache { entries }
    }

    /// The cached answer for `key` if still fresh (`true` = hit), else the result of `fetch`,
    /// kept for `ttl_of(answer)` when it succeeds. Concurrent misses for one key share a fetch.
    pub(crate) async fn get_or_fetch<F>(
        &self,
        key: K,
        ttl_of: impl FnOnce(&V) -> Duration,
        fetch: F,
    ) -> (Result<V, DelegatedCheckError>, bool)
    where
        F: Future<Output = Result<V, DelegatedCheckError>>,
    {
        let Some(entries) = &self.entries else {
            return (fetch.await, false);
        };
        if let Some(entry) = entries.get(&key).await {
            if Instant::now() < entry.expires_at {
                return (Ok(entry.value.clone()), true);
            }
            entries.invalidate(&key).await;
        }
        let fetched = entries
            .try_get_with(key, async move {
                let value = fetch.await?;
                let expires_at = Instant::now() + ttl_of(&value);
                Ok::<_, DelegatedCheckError>(Arc::new(Expiring { value, expires_at }))
            })
            .await;
        match fetched {
            Ok(entry) => (Ok(entry.value.clone()), false),
            Err(error) => (Err((*error).clone()), false),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn fetch_counted(
        calls: &AtomicUsize,
        answer: Result<&'static str, DelegatedCheckError>,
    ) -> Result<&'static str, DelegatedCheckError> {
        calls.fetch_add(1, Ordering::SeqCst);
        answer
    }

    #[tokio::test(start_paused = true)]
    async fn fresh_answers_are_hits_until_their_ttl() {
        let cache = DecisionCache::<u8, &'static str>::new(10, Duration::from_secs(10));
        let calls = AtomicUsize::new(0);
        let ttl = |_: &&str| Duration::from_secs(10);
        let (first, hit) = cache
            .get_or_fetch(1, ttl, fetch_counted(&calls, Ok("yes")))
            .await;
        assert_eq!((first, hit), (Ok("yes"), false));
        tokio::time::advance(Duration::from_secs(9)).await;
        let (second, hit) = cache
            .get_or_fetch(1, ttl, fetch_counted(&calls, Ok("no")))
            .await;
        assert_eq!((second, hit), (Ok("yes"), true));
        tokio::time::advance(Duration::from_secs(1)).await;
        let (third, hit) = cache
            .get_or_fetch(1, ttl, fetch_counted(&calls, Ok("no")))
            .await;
        assert_eq!((third, hit), (Ok("no"), false));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_not_remembered() {
        let cache = DecisionCache::<u8, &'static str>::new(10, Duration::from_secs(10));
        let calls = AtomicUsize::new(0);
        let ttl = |_: &&str| Duration::from_secs(10);
        let down = DelegatedCheckError::Transport("connection refused".into());
        let (first, _) = cache
            .get_or_fetch(1, ttl, fetch_counted(&calls, Err(down.clone())))
            .await;
        assert_eq!(first, Err(down));
        let (second, hit) = cache
            .get_or_fetch(1, ttl, fetch_counted(&calls, Ok("yes")))
            .await;
        assert_eq!((second, hit), (Ok("yes"), false));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_ttl_disables_caching() {
        let cache = DecisionCache::<u8, &'static str>::new(10, Duration::ZERO);
        let calls = AtomicUsize::new(0);
        for _ in 0..2 {
            let (answer, hit) = cache
                .get_or_fetch(1, |_| Duration::ZERO, fetch_counted(&calls, Ok("yes")))
                .await;
            assert_eq!((answer, hit), (Ok("yes"), false));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_fetch() {
        let cache = Arc::new(DecisionCache::<u8, &'static str>::new(
            10,
            Duration::from_secs(10),
        ));
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let (cache, calls, gate) = (cache.clone(), calls.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch(1, |_| Duration::from_secs(10), async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        gate.notified().await;
                        Ok("yes")
                    })
                    .await
                    .0
            }));
        }
        // Let every task reach the cache, then release the single fetch.
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        gate.notify_waiters();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok("yes"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// An in-process kube-apiserver that answers every review with its body and counts them.
    fn counting_apiserver(calls: Arc<AtomicUsize>) -> kube::Client {
        let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                let body = request.into_body().collect().await.unwrap().to_bytes();
                Ok::<_, std::convert::Infallible>(
                    http::Response::builder()
                        .status(201)
                        .body(http_body_util::Full::new(body))
                        .unwrap_or_default(),
                )
            }
        });
        kube::Client::new(service, "default")
    }

    #[tokio::test]
    async fn a_flood_of_reviews_is_held_to_the_rate_limit() {
        let calls = Arc::new(AtomicUsize::new(0));
        let metrics = Arc::new(SecurityMetrics::register(&prometheus::Registry::new()).unwrap());
        // A budget of 5 at once and one more a minute: within a test, the sixth review can
        // only wait, and its 200 ms deadline ends the wait.
        let quota = Quota::per_minute(NonZeroU32::MIN).allow_burst(NonZeroU32::new(5).unwrap());
        let reviews = ReviewClient::with_quota(
            counting_apiserver(calls.clone()),
            Duration::from_millis(200),
            metrics,
            Review::Token,
            quota,
        );
        let bodies: Vec<_> = (0..50)
            .map(|token| serde_json::json!({"spec": {"token": token.to_string()}}))
            .collect();
        let outcomes = futures_util::future::join_all(bodies.iter().map(|body| {
            reviews
                .post::<_, serde_json::Value>("/apis/authentication.k8s.io/v1/tokenreviews", body)
        }))
        .await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            5,
            "only the burst reached the apiserver"
        );
        let throttled = outcomes
            .iter()
            .filter(|o| matches!(o, Err(DelegatedCheckError::Throttled(_))))
            .count();
        assert_eq!(throttled, 45, "{outcomes:?}");
    }

    #[test]
    fn status_message_prefers_the_status_body() {
        let body =
            Bytes::from_static(br#"{"kind":"Status","message":"tokenreviews is forbidden"}"#);
        assert_eq!(status_message(&body), "tokenreviews is forbidden");
        assert_eq!(status_message(&Bytes::from_static(b"oops")), "oops");
    }
}
