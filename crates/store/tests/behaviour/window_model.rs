//! A naive model of the usage window's rules for the property tests: every kept sample as a whole
//! point in a vector per item, in hash maps, with the rules written as plainly as possible and
//! per-sample start times checked at read time (which the store leaves out, claiming they never
//! decrease along a series). It shares no code with the crate.

use std::collections::HashMap;

use metric_store::{MAX_SAMPLES_PER_SERIES, MetricsBatch, MetricsPoint, PodRef, Timestamp, Usage};

use crate::model::ModelPod;

/// Kept samples of one item, oldest first, the newest last.
type Kept = Vec<MetricsPoint>;

#[derive(Debug)]
pub struct WindowModel {
    resolution_ns: i64,
    window_ns: i64,
    max_samples: usize,
    nodes: HashMap<String, Kept>,
    pods: HashMap<PodRef, HashMap<String, Kept>>,
}

impl WindowModel {
    pub fn new(resolution_ns: i64, window_ns: i64) -> Self {
        let intervals = (window_ns + resolution_ns - 1) / resolution_ns;
        WindowModel {
            resolution_ns,
            window_ns,
            max_samples: usize::try_from(intervals + 1)
                .unwrap()
                .min(MAX_SAMPLES_PER_SERIES),
            nodes: HashMap::new(),
            pods: HashMap::new(),
        }
    }

    /// The samples `kept` and the new point `new` keep.
    fn carry(&self, kept: Option<&Kept>, new: &MetricsPoint) -> Kept {
        let Some(kept) = kept else {
            return vec![*new];
        };
        let older: Vec<MetricsPoint> = kept
            .iter()
            .filter(|sample| sample.timestamp < new.timestamp)
            .copied()
            .collect();
        let Some(predecessor) = older.iter().max_by_key(|sample| sample.timestamp) else {
            return vec![*new];
        };
        let newest = kept.last().unwrap();
        if new.start_time < newest.start_time
            || new.cumulative_cpu_ns < predecessor.cumulative_cpu_ns
        {
            return vec![*new];
        }
        let cutoff = new.timestamp.0.saturating_sub(self.window_ns);
        let mut within: Vec<MetricsPoint> = older
            .iter()
            .filter(|sample| sample.timestamp.0 >= cutoff)
            .copied()
            .collect();
        if within.is_empty() {
            within.push(*predecessor);
        }
        while within.len() + 1 > self.max_samples {
            within.remove(0);
        }
        within.push(*new);
        within
    }

    pub fn store(&mut self, batch: &MetricsBatch) {
        let nodes = batch
            .nodes
            .iter()
            .map(|(name, point)| (name.clone(), self.carry(self.nodes.get(name), point)))
            .collect();
        let mut pods = HashMap::new();
        for (pod, points) in &batch.pods {
            if points.is_empty() {
                continue;
            }
            let mut containers: HashMap<String, Kept> = HashMap::new();
            for container in points {
                if containers.contains_key(&container.name) {
                    continue; // the first point of a name wins
                }
                let old = self.pods.get(pod).and_then(|c| c.get(&container.name));
                let restarted = old.is_some_and(|kept| {
                    container.point.start_time >= kept.last().unwrap().timestamp
                });
                let kept = self.carry(old.filter(|_| !restarted), &container.point);
                containers.insert(container.name.clone(), kept);
            }
            pods.insert(pod.clone(), containers);
        }
        self.nodes = nodes;
        self.pods = pods;
    }

    /// A container with a single sample rates against its start, if it is fresh.
    fn fresh_start(&self, last: &MetricsPoint) -> Option<MetricsPoint> {
        let age = last.timestamp.0.saturating_sub(last.start_time.0);
        (last.start_time < last.timestamp && age >= 10_000_000_000 && age < self.resolution_ns)
            .then_some(MetricsPoint {
                timestamp: last.start_time,
                cumulative_cpu_ns: 0,
                ..*last
            })
    }

    /// What the rate is computed against: the oldest kept sample, or a fresh container's start.
    fn oldest(&self, kept: &Kept, container: bool) -> Option<MetricsPoint> {
        match kept.as_slice() {
            [only] if container => self.fresh_start(only),
            [_] | [] => None,
            [oldest, ..] => Some(*oldest),
        }
    }

    pub fn node(&self, name: &str) -> Option<Usage> {
        let kept = self.nodes.get(name)?;
        usage(kept.last()?, &self.oldest(kept, false)?)
    }

    pub fn pod(&self, pod: &PodRef) -> Option<ModelPod> {
        let kept = self.pods.get(pod)?;
        let mut containers = Vec::new();
        for (name, kept) in kept {
            let oldest = self.oldest(kept, true)?;
            if let Some(usage) = usage(kept.last()?, &oldest) {
                containers.push((name.clone(), usage));
            }
        }
        containers.sort_by(|a, b| a.0.cmp(&b.0));
        let earliest = containers
            .iter()
            .map(|(_, usage)| usage)
            .min_by_key(|usage| usage.timestamp);
        let (timestamp, window) = earliest.map_or((Timestamp::ZERO, 0), |usage| {
            (usage.timestamp, usage.window_ns)
        });
        Some((timestamp, window, containers))
    }

    pub fn node_points(&self) -> usize {
        self.nodes
            .values()
            .filter(|kept| self.oldest(kept, false).is_some())
            .count()
    }

    pub fn container_points(&self) -> usize {
        self.pods
            .values()
            .flat_map(HashMap::values)
            .filter(|kept| self.oldest(kept, true).is_some())
            .count()
    }

    /// Older samples kept over all items (a fresh container's start is not kept).
    pub fn window_samples(&self) -> usize {
        let nodes = self.nodes.values();
        let containers = self.pods.values().flat_map(HashMap::values);
        nodes.chain(containers).map(|kept| kept.len() - 1).sum()
    }
}

/// The rate between two samples; `None` when a counter or the start time went backwards, which
/// the window's rules should make impossible.
fn usage(last: &MetricsPoint, oldest: &MetricsPoint) -> Option<Usage> {
    if last.start_time < oldest.start_time || last.cumulative_cpu_ns < oldest.cumulative_cpu_ns {
        return None;
    }
    let window = last.timestamp.0.saturating_sub(oldest.timestamp.0);
    assert!(window > 0, "the rules never pair samples out of order");
    let seconds = (window / 1_000_000_000) as f64 + (window % 1_000_000_000) as f64 / 1e9;
    Some(Usage {
        timestamp: last.timestamp,
        window_ns: window,
        cpu_nanocores: ((last.cumulative_cpu_ns - oldest.cumulative_cpu_ns) as f64 / seconds)
            as u64,
        memory_bytes: last.memory_bytes,
        swap_bytes: last.swap_bytes,
    })
}
