//! The rate math shared by nodes and containers: from two samples of a cumulative CPU counter to
//! an average usage over the window between them, with upstream's exact arithmetic.

use crate::batch::{MetricsPoint, Timestamp};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Usage of one node or container over the window `[timestamp − window, timestamp]`: CPU is the
/// average rate over the window, memory and swap are the values at `timestamp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// When the newer sample was taken.
    pub timestamp: Timestamp,
    /// Length of the window in nanoseconds; always > 0.
    pub window_ns: i64,
    /// Average CPU use over the window, in nanocores (billionths of a core).
    pub cpu_nanocores: u64,
    /// Working set at `timestamp`, in bytes.
    pub memory_bytes: u64,
    /// Swap in use at `timestamp`, when the kubelet reported it.
    pub swap_bytes: Option<u64>,
}

/// A node's usage; the same shape as a container's.
pub type NodeUsage = Usage;
/// A container's usage; the same shape as a node's.
pub type ContainerUsage = Usage;

/// Why no usage can be computed from a pair of samples. The item is then left out of that read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// The newer sample claims an earlier start than the older one.
    #[error("unexpected decrease in startTime of node/container")]
    StartTimeDecreased,
    /// The cumulative CPU counter went backwards: a node reboot or a counter reset.
    #[error("unexpected decrease in cumulative CPU usage value")]
    CpuDecreased,
    /// The samples are not strictly ordered in time. The store never pairs samples like that; this
    /// guards the division rather than trusting every caller.
    #[error("the newer sample is not later than the older one")]
    NonPositiveWindow,
}

/// What the store keeps of an older sample: only what the rate needs (memory of the older sample
/// is never served), which keeps the per-container state small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) start_time: Timestamp,
    pub(crate) timestamp: Timestamp,
    pub(crate) cumulative_cpu_ns: u64,
}

impl Sample {
    /// The part of `point` that a later rate computation needs.
    pub(crate) fn of(point: &MetricsPoint) -> Self {
        Sample {
            start_time: point.start_time,
            timestamp: point.timestamp,
            cumulative_cpu_ns: point.cumulative_cpu_ns,
        }
    }
}

/// Usage between an older sample and the newest point, or why there is none.
///
/// CPU is `uint64(float64(Δcpu) / window.Seconds())` as upstream computes it: the quotient is
/// truncated toward zero. A quotient beyond `u64::MAX` saturates (Go's result there is
/// platform-defined; such a rate is meaningless either way).
pub(crate) fn resource_usage(last: &MetricsPoint, prev: &Sample) -> Result<Usage, UsageError> {
    if last.start_time < prev.start_time {
        return Err(UsageError::StartTimeDecreased);
    }
    let Some(cpu_delta) = last.cumulative_cpu_ns.checked_sub(prev.cumulative_cpu_ns) else {
        return Err(UsageError::CpuDecreased);
    };
    // Go's time.Sub saturates instead of wrapping; so does this.
    let window_ns = last.timestamp.0.saturating_sub(prev.timestamp.0);
    if window_ns <= 0 {
        return Err(UsageError::NonPositiveWindow);
    }
    let cpu_nanocores = (cpu_delta as f64 / go_duration_seconds(window_ns)) as u64;
    Ok(Usage {
        timestamp: last.timestamp,
        window_ns,
        cpu_nanocores,
        memory_bytes: last.memory_bytes,
        swap_bytes: last.swap_bytes,
    })
}

/// Seconds in a duration the way Go's `Duration.Seconds` computes them: whole seconds and the
/// nanosecond remainder are converted separately. That can differ in the last bit from
/// `ns as f64 / 1e9`, and the last bit decides where a truncated rate lands.
fn go_duration_seconds(ns: i64) -> f64 {
    let whole = ns / NANOS_PER_SECOND;
    let fraction = ns % NANOS_PER_SECOND;
    whole as f64 + fraction as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = NANOS_PER_SECOND;

    fn point(start: i64, ts: i64, cpu: u64) -> MetricsPoint {
        MetricsPoint {
            start_time: Timestamp(start),
            timestamp: Timestamp(ts),
            cumulative_cpu_ns: cpu,
            memory_bytes: 4096,
            swap_bytes: Some(7),
        }
    }

    fn sample(start: i64, ts: i64, cpu: u64) -> Sample {
        Sample {
            start_time: Timestamp(start),
            timestamp: Timestamp(ts),
            cumulative_cpu_ns: cpu,
        }
    }

    #[test]
    fn rate_is_cpu_delta_over_window_with_last_memory_and_timestamp() {
        let usage = resource_usage(&point(0, 20 * S, 3_000_000_000), &sample(0, 5 * S, 0)).unwrap();
        assert_eq!(
            usage,
            Usage {
                timestamp: Timestamp(20 * S),
                window_ns: 15 * S,
                cpu_nanocores: 200_000_000,
                memory_bytes: 4096,
                swap_bytes: Some(7),
            }
        );
    }

    #[test]
    fn rate_truncates_toward_zero() {
        // 2 ns over 3 s is 0.67 nanocores; 2e9+2 ns over 3 s is 666666667.33.
        assert_eq!(
            resource_usage(&point(0, 3 * S, 2), &sample(0, 0, 0))
                .unwrap()
                .cpu_nanocores,
            0
        );
        let usage = resource_usage(&point(0, 3 * S, 2_000_000_002), &sample(0, 0, 0)).unwrap();
        assert_eq!(usage.cpu_nanocores, 666_666_667);
    }

    #[test]
    fn start_time_decrease_is_an_error() {
        let err = resource_usage(&point(S, 20 * S, 10), &sample(2 * S, 5 * S, 0)).unwrap_err();
        assert_eq!(err, UsageError::StartTimeDecreased);
    }

    #[test]
    fn start_time_decrease_is_checked_before_cpu_decrease() {
        let err = resource_usage(&point(S, 20 * S, 0), &sample(2 * S, 5 * S, 10)).unwrap_err();
        assert_eq!(err, UsageError::StartTimeDecreased);
    }

    #[test]
    fn cpu_decrease_is_an_error() {
        let err = resource_usage(&point(0, 20 * S, 9), &sample(0, 5 * S, 10)).unwrap_err();
        assert_eq!(err, UsageError::CpuDecreased);
    }

    #[test]
    fn equal_cpu_is_a_zero_rate() {
        assert_eq!(
            resource_usage(&point(0, 20 * S, 10), &sample(0, 5 * S, 10))
                .unwrap()
                .cpu_nanocores,
            0
        );
    }

    #[test]
    fn non_positive_window_is_an_error_not_a_division_by_zero() {
        let same = resource_usage(&point(0, 5 * S, 10), &sample(0, 5 * S, 0));
        assert_eq!(same.unwrap_err(), UsageError::NonPositiveWindow);
        let backwards = resource_usage(&point(0, 4 * S, 10), &sample(0, 5 * S, 0));
        assert_eq!(backwards.unwrap_err(), UsageError::NonPositiveWindow);
    }

    #[test]
    fn extreme_values_saturate_instead_of_overflowing() {
        let usage = resource_usage(&point(0, i64::MAX, u64::MAX), &sample(0, i64::MIN, 0)).unwrap();
        assert_eq!(usage.window_ns, i64::MAX);
        let usage = resource_usage(&point(0, 1, u64::MAX), &sample(0, 0, 0)).unwrap();
        assert_eq!(usage.cpu_nanocores, u64::MAX);
    }

    #[test]
    fn seconds_are_computed_like_go() {
        assert_eq!(go_duration_seconds(15_012_000_000), 15.012);
        assert_eq!(go_duration_seconds(-1_500_000_000), -1.5);
        // Converting whole seconds and the remainder separately differs from one division here.
        assert_ne!(
            go_duration_seconds(13_116_322_480),
            13_116_322_480_f64 / 1e9
        );
    }

    #[test]
    fn rate_matches_go_where_the_seconds_formula_matters() {
        // Go 1.x: uint64(float64(13124697806378004) / time.Duration(13116322480).Seconds())
        // prints 1000638542273626; a single division would give ...627.
        let usage = resource_usage(
            &point(0, 13_116_322_480, 13_124_697_806_378_004),
            &sample(0, 0, 0),
        );
        assert_eq!(usage.unwrap().cpu_nanocores, 1_000_638_542_273_626);
    }
}
