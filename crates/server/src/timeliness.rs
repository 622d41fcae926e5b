//! `metric-collection-timely` on `/livez`: the scrape loop's own health, so it lives with the
//! loop. A process whose loop is stuck (no cycle started for 1.5 resolutions) is restarted by
//! its liveness probe, as upstream's is.

use std::sync::Mutex;
use std::time::Duration;

use generic_apiserver::HealthCheck;
use tokio::time::Instant;

/// When the last scrape cycle started.
#[derive(Debug)]
pub struct CollectionTimeliness {
    resolution: Duration,
    last_cycle_start: Mutex<Option<Instant>>,
}

impl CollectionTimeliness {
    pub fn new(resolution: Duration) -> CollectionTimeliness {
        CollectionTimeliness {
            resolution,
            last_cycle_start: Mutex::new(None),
        }
    }

    /// Called when a scrape cycle starts.
    pub fn cycle_started(&self, at: Instant) {
        *self
            .last_cycle_start
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    /// Upstream's rule and wording; before the first cycle there is nothing to be late for
    /// (upstream has no grace period either).
    pub fn check(&self) -> Result<(), String> {
        let last = *self
            .last_cycle_start
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match last {
            Some(start) if start.elapsed() > self.resolution.mul_f64(1.5) => Err(format!(
                "metric collection didn't finish on time: last scrape cycle started {:?} ago, resolution is {:?}",
                start.elapsed(),
                self.resolution
            )),
            _ => Ok(()),
        }
    }

    /// The check as the health endpoints run it.
    pub fn health_check(self: &std::sync::Arc<Self>) -> HealthCheck {
        let this = std::sync::Arc::clone(self);
        HealthCheck::new("metric-collection-timely", move || this.check())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn late_only_after_one_and_a_half_resolutions_without_a_cycle() {
        let clock = CollectionTimeliness::new(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(clock.check(), Ok(()), "nothing to be late for yet");
        clock.cycle_started(Instant::now());
        tokio::time::advance(Duration::from_secs(15)).await;
        assert_eq!(clock.check(), Ok(()));
        tokio::time::advance(Duration::from_millis(1)).await;
        let late = clock.check().unwrap_err();
        assert!(
            late.starts_with(
                "metric collection didn't finish on time: last scrape cycle started 15.001s ago"
            ),
            "{late}"
        );
        clock.cycle_started(Instant::now());
        assert_eq!(clock.check(), Ok(()));
    }
}
