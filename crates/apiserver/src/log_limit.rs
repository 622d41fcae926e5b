//! Rate-limited logging for messages a client can cause at will (failed authentication, say):
//! a flood of bad requests must not become a flood of log lines, yet the operator still learns
//! that it happened and how much was held back.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Lets a few messages through at once and then about one a second, counting the rest.
pub(crate) struct LogLimiter {
    limiter: DefaultDirectRateLimiter,
    suppressed: AtomicU64,
}

impl std::fmt::Debug for LogLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogLimiter")
            .field("suppressed", &self.suppressed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Messages let through at once after a quiet spell.
const BURST: u32 = 10;

impl LogLimiter {
    /// About one message a second, bursts of [`BURST`].
    pub(crate) fn new() -> Self {
        let burst = NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN);
        LogLimiter::with_quota(Quota::per_second(NonZeroU32::MIN).allow_burst(burst))
    }

    fn with_quota(quota: Quota) -> Self {
        LogLimiter {
            limiter: RateLimiter::direct(quota),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when a message may be logged now, `n` being how many were held back since
    /// the last one that was; `None` (and one more held back) otherwise.
    pub(crate) fn admit(&self) -> Option<u64> {
        if self.limiter.check().is_ok() {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_held_back_and_counted() {
        // One a minute after a burst of three: nothing refills during the test.
        let limiter = LogLimiter::with_quota(
            Quota::per_minute(NonZeroU32::MIN).allow_burst(NonZeroU32::new(3).unwrap()),
        );
        let admitted: Vec<_> = (0..1000).filter_map(|_| limiter.admit()).collect();
        assert_eq!(admitted, [0, 0, 0]);
        assert_eq!(limiter.suppressed.load(Ordering::Relaxed), 997);
    }
}
