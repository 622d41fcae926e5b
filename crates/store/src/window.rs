//! The usage window (`--usage-window`, off by default): instead of upstream's two points, a node
//! or container keeps every sample taken within the window before its newest one, and CPU is the
//! rate from the oldest kept sample to the newest. A longer window smooths bursty CPU (steadier
//! HPA decisions) at the cost of reacting more slowly to a real change.
//!
//! Rules, for a new point `p` and the series stored last cycle (its newest point and its kept
//! older samples):
//!
//! - **Kept.** The real samples strictly older than `p` whose timestamp is at least
//!   `p − window`, oldest first; at most `ceil(window / resolution)` of them, and at most
//!   [`MAX_SAMPLES_PER_SERIES`] − 1 (beyond that, the oldest go). The newest of them is kept
//!   even when it is older than the window, so a late or jittered scrape serves a rate over one
//!   longer interval, as upstream would, rather than nothing.
//! - **Start over.** Nothing is kept when the container restarted (the same rule as upstream's:
//!   its start is not before the stored newest sample, checked by the caller), when the start time
//!   went backwards, or when the CPU counter went below the newest kept sample (a reboot or a
//!   counter reset). Upstream reports the last two as a usage error for one cycle; a window would
//!   carry the bad sample for its whole length, so the series starts over instead. As a result
//!   neither the CPU counter nor the start time ever decreases along a kept series.
//! - **Fresh containers.** The synthetic zero-CPU sample at the start time stands in only while
//!   a container has a single real sample; it is never kept as history.
//!
//! Memory: the newest point stays inline in the series as without a window; each older sample is
//! 16 bytes (timestamp and cumulative CPU — memory and swap are only served from the newest
//! point, and start times are not needed since they never decrease along a series), stored in
//! one vector per snapshot rather than one allocation per series.

use std::ops::Range;
use std::time::Duration;

use crate::advance::Carried;
use crate::batch::{MetricsPoint, Timestamp};
use crate::snapshot::{Older, Series};
use crate::usage::Sample;

/// The most samples a series keeps, its newest included, whatever the window and resolution:
/// ten minutes at a 15 s resolution. It bounds both memory and the copying done every cycle.
pub const MAX_SAMPLES_PER_SERIES: usize = 41;

/// An older sample of a windowed series: what the rate needs and no more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WindowSample {
    pub(crate) timestamp: Timestamp,
    pub(crate) cumulative_cpu_ns: u64,
}

impl WindowSample {
    fn of(point: &MetricsPoint) -> Self {
        WindowSample {
            timestamp: point.timestamp,
            cumulative_cpu_ns: point.cumulative_cpu_ns,
        }
    }

    /// This sample as the older end of a rate ending at `last`. It borrows `last`'s start time:
    /// a series starts over whenever its start time decreases, so no kept sample started later
    /// than `last`, and the rate's start-time check holds as it would with per-sample times.
    pub(crate) fn older_end_for(self, last: &MetricsPoint) -> Sample {
        Sample {
            start_time: last.start_time,
            timestamp: self.timestamp,
            cumulative_cpu_ns: self.cumulative_cpu_ns,
        }
    }
}

/// Where a series' older samples sit in its snapshot's window samples: oldest first, never
/// empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WindowSpan {
    start: usize,
    end: usize,
}

impl WindowSpan {
    pub(crate) fn range(self) -> Range<usize> {
        self.start..self.end
    }

    /// The index of the oldest sample, which the rate starts from.
    pub(crate) fn oldest(self) -> usize {
        self.start
    }
}

/// A usage window's fixed parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UsageWindow {
    window_ns: i64,
    /// Samples kept besides the newest point: at least 1.
    max_older_samples: usize,
}

impl UsageWindow {
    /// The window for `--usage-window`; `None` for zero, which keeps upstream's two points.
    ///
    /// A scrape every `metric_resolution` puts `ceil(window / resolution) + 1` samples in the
    /// window, the newest included; that many are kept, up to [`MAX_SAMPLES_PER_SERIES`], which
    /// shortens longer windows at fine resolutions (10 minutes at 10 s serves at most 400 s).
    pub(crate) fn new(window: Duration, metric_resolution: Duration) -> Option<UsageWindow> {
        if window.is_zero() {
            return None;
        }
        let intervals = match metric_resolution.as_nanos() {
            0 => usize::MAX,
            resolution => {
                usize::try_from(window.as_nanos().div_ceil(resolution)).unwrap_or(usize::MAX)
            }
        };
        let samples = intervals.saturating_add(1).min(MAX_SAMPLES_PER_SERIES);
        Some(UsageWindow {
            window_ns: i64::try_from(window.as_nanos()).unwrap_or(i64::MAX),
            // `intervals` is at least 1 for a non-zero window, so at least one older sample.
            max_older_samples: samples.saturating_sub(1).max(1),
        })
    }

    /// Carries `old`'s samples that the new point `new` keeps into `next` (see the module docs).
    /// `previous` holds the window samples `old`'s span points into. The caller has already
    /// applied the container restart rule.
    pub(crate) fn carry(
        self,
        old: &Series,
        previous: &[WindowSample],
        new: &MetricsPoint,
        next: &mut Vec<WindowSample>,
    ) -> Carried {
        // A `Sample` here is a fresh container's synthetic start, not a real sample: never kept.
        let kept = match old.older {
            Older::Window(span) => previous.get(span.range()).unwrap_or_default(),
            Older::None | Older::Sample(_) => &[],
        };
        // Real samples older than `new`, oldest first: the kept ones (all older than the stored
        // newest point), then that point itself.
        let kept_older = &kept[..kept.partition_point(|sample| sample.timestamp < new.timestamp)];
        let last_older =
            Some(WindowSample::of(&old.last)).filter(|last| last.timestamp < new.timestamp);
        let Some(predecessor) = last_older.or_else(|| kept_older.last().copied()) else {
            return match old.older {
                Older::None => Carried::Nothing,
                Older::Sample(_) | Older::Window(_) => Carried::Dropped,
            };
        };
        if new.start_time < old.last.start_time
            || new.cumulative_cpu_ns < predecessor.cumulative_cpu_ns
        {
            return Carried::StartedOver;
        }

        let older = kept_older.iter().copied().chain(last_older);
        let count = kept_older.len() + usize::from(last_older.is_some());
        let cutoff = new.timestamp.0.saturating_sub(self.window_ns);
        let outside_window = older
            .clone()
            .take_while(|sample| sample.timestamp.0 < cutoff)
            .count();
        // Always keep the predecessor; beyond the cap, drop the oldest.
        let skip = outside_window
            .min(count.saturating_sub(1))
            .max(count.saturating_sub(self.max_older_samples));
        let start = next.len();
        next.extend(older.skip(skip));
        Carried::Window(WindowSpan {
            start,
            end: next.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn max_older(window_s: u64, resolution_s: u64) -> usize {
        UsageWindow::new(
            Duration::from_secs(window_s),
            Duration::from_secs(resolution_s),
        )
        .map_or(0, |window| window.max_older_samples)
    }

    #[test]
    fn samples_kept_are_one_per_resolution_in_the_window_plus_the_newest_up_to_the_cap() {
        assert!(UsageWindow::new(Duration::ZERO, Duration::from_secs(15)).is_none());
        assert_eq!(max_older(60, 15), 4);
        assert_eq!(max_older(120, 15), 8);
        assert_eq!(
            max_older(61, 15),
            5,
            "a partial interval still holds a sample"
        );
        assert_eq!(max_older(15, 15), 1);
        assert_eq!(max_older(600, 15), MAX_SAMPLES_PER_SERIES - 1);
        assert_eq!(max_older(600, 10), MAX_SAMPLES_PER_SERIES - 1);
        assert_eq!(max_older(5, 15), 1, "shorter than the resolution");
        let unbounded = UsageWindow::new(Duration::MAX, Duration::ZERO).unwrap();
        assert_eq!(unbounded.max_older_samples, MAX_SAMPLES_PER_SERIES - 1);
        assert_eq!(unbounded.window_ns, i64::MAX);
    }

    fn point(ts_s: i64, cpu: u64) -> MetricsPoint {
        MetricsPoint {
            timestamp: Timestamp(ts_s * S),
            cumulative_cpu_ns: cpu,
            ..MetricsPoint::default()
        }
    }

    /// Feeds `points` through `carry` as successive cycles would, returning the final series and
    /// its samples.
    fn run(window: UsageWindow, points: &[MetricsPoint]) -> (Series, Vec<WindowSample>) {
        let mut series: Option<Series> = None;
        let mut samples = Vec::new();
        for point in points {
            let mut next = Vec::new();
            let older = match &series {
                None => Older::None,
                Some(old) => match window.carry(old, &samples, point, &mut next) {
                    Carried::Window(span) => Older::Window(span),
                    _ => Older::None,
                },
            };
            series = Some(Series {
                last: *point,
                older,
            });
            samples = next;
        }
        (series.unwrap(), samples)
    }

    fn kept_timestamps(series: &Series, samples: &[WindowSample]) -> Vec<i64> {
        match series.older {
            Older::Window(span) => samples[span.range()]
                .iter()
                .map(|sample| sample.timestamp.0 / S)
                .collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn keeps_the_samples_within_the_window_oldest_first() {
        let window = UsageWindow::new(Duration::from_secs(60), Duration::from_secs(15)).unwrap();
        let points: Vec<_> = (0..10).map(|i| point(i * 15, 0)).collect();
        let (series, samples) = run(window, &points);
        assert_eq!(kept_timestamps(&series, &samples), [75, 90, 105, 120]);
        assert_eq!(samples.len(), 4, "only this series' samples are copied");
    }

    #[test]
    fn the_cap_drops_the_oldest_even_within_the_window() {
        let window = UsageWindow::new(Duration::from_secs(60), Duration::from_secs(15)).unwrap();
        // Jitter packs six samples into 60 s; five are kept with the newest.
        let points: Vec<_> = [0, 12, 24, 36, 48, 60].map(|ts| point(ts, 0)).to_vec();
        let (series, samples) = run(window, &points);
        assert_eq!(kept_timestamps(&series, &samples), [12, 24, 36, 48]);
    }

    #[test]
    fn the_predecessor_is_kept_when_older_than_the_window() {
        let window = UsageWindow::new(Duration::from_secs(15), Duration::from_secs(15)).unwrap();
        let (series, samples) = run(window, &[point(0, 0), point(16, 0)]);
        assert_eq!(kept_timestamps(&series, &samples), [0]);
    }

    #[test]
    fn a_point_not_newer_keeps_only_the_samples_older_than_it() {
        let window = UsageWindow::new(Duration::from_secs(60), Duration::from_secs(15)).unwrap();
        let points = [point(0, 0), point(15, 0), point(30, 0), point(20, 0)];
        let (series, samples) = run(window, &points);
        assert_eq!(kept_timestamps(&series, &samples), [0, 15]);

        let old = Series {
            last: point(30, 0),
            older: Older::None,
        };
        let mut next = Vec::new();
        assert!(matches!(
            window.carry(&old, &[], &point(30, 0), &mut next),
            Carried::Nothing
        ));
        let old = Series {
            older: Older::Sample(Sample::of(&point(30, 0))),
            ..old
        };
        assert!(matches!(
            window.carry(&old, &[], &point(30, 0), &mut next),
            Carried::Dropped
        ));
        assert!(next.is_empty());
    }

    #[test]
    fn a_decrease_of_cpu_or_start_time_starts_over() {
        let window = UsageWindow::new(Duration::from_secs(60), Duration::from_secs(15)).unwrap();
        let old = Series {
            last: point(15, 10),
            older: Older::None,
        };
        let mut next = Vec::new();
        assert!(matches!(
            window.carry(&old, &[], &point(30, 9), &mut next),
            Carried::StartedOver
        ));
        let earlier_start = MetricsPoint {
            start_time: Timestamp(-S),
            ..point(30, 10)
        };
        assert!(matches!(
            window.carry(&old, &[], &earlier_start, &mut next),
            Carried::StartedOver
        ));
        assert!(next.is_empty());
        assert!(matches!(
            window.carry(&old, &[], &point(30, 10), &mut next),
            Carried::Window(_)
        ));
    }

    #[test]
    fn the_older_end_borrows_the_newest_start_time() {
        let last = MetricsPoint {
            start_time: Timestamp(7),
            ..point(30, 10)
        };
        let sample = WindowSample::of(&point(15, 3));
        assert_eq!(
            sample.older_end_for(&last),
            Sample {
                start_time: Timestamp(7),
                timestamp: Timestamp(15 * S),
                cumulative_cpu_ns: 3
            }
        );
    }
}
