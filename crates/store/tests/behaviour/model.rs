//! A deliberately naive model of the storage rules, shaped like upstream (hash maps of `last` and
//! `prev` points), for the property tests to compare the real store against. It shares no code
//! with the crate; where the two disagree, one of them misreads upstream (metrics-server `pkg/storage`).

use std::collections::HashMap;

use metric_store::{MetricsBatch, MetricsPoint, PodRef, Timestamp, Usage};

type Containers = HashMap<String, MetricsPoint>;

#[derive(Debug, Default)]
pub struct Model {
    resolution_ns: i64,
    nodes_last: HashMap<String, MetricsPoint>,
    nodes_prev: HashMap<String, MetricsPoint>,
    pods_last: HashMap<PodRef, Containers>,
    pods_prev: HashMap<PodRef, Containers>,
}

/// A pod as the model would serve it: time, then containers sorted by name.
pub type ModelPod = (Timestamp, i64, Vec<(String, Usage)>);

impl Model {
    pub fn new(resolution_ns: i64) -> Self {
        Model {
            resolution_ns,
            ..Model::default()
        }
    }

    pub fn store(&mut self, batch: &MetricsBatch) {
        let mut nodes_last = HashMap::new();
        let mut nodes_prev = HashMap::new();
        for (name, point) in &batch.nodes {
            nodes_last.insert(name.clone(), *point);
            if let Some(old_last) = self.nodes_last.get(name) {
                if point.timestamp > old_last.timestamp {
                    nodes_prev.insert(name.clone(), *old_last);
                } else if let Some(old_prev) = self.nodes_prev.get(name)
                    && old_prev.timestamp < point.timestamp
                {
                    nodes_prev.insert(name.clone(), *old_prev);
                }
            }
        }

        let mut pods_last = HashMap::new();
        let mut pods_prev = HashMap::new();
        for (pod, points) in &batch.pods {
            let mut last = Containers::new();
            let mut prev = Containers::new();
            for container in points {
                if last.contains_key(&container.name) {
                    continue; // the first point of a name wins
                }
                let p = container.point;
                last.insert(container.name.clone(), p);
                let age = p.timestamp.0.saturating_sub(p.start_time.0);
                if p.start_time < p.timestamp && age >= 10_000_000_000 && age < self.resolution_ns {
                    let synthetic = MetricsPoint {
                        timestamp: p.start_time,
                        cumulative_cpu_ns: 0,
                        ..p
                    };
                    prev.insert(container.name.clone(), synthetic);
                } else if let Some(old_last) =
                    self.pods_last.get(pod).and_then(|c| c.get(&container.name))
                    && p.start_time < old_last.timestamp
                {
                    if p.timestamp > old_last.timestamp {
                        prev.insert(container.name.clone(), *old_last);
                    } else if let Some(old_prev) =
                        self.pods_prev.get(pod).and_then(|c| c.get(&container.name))
                        && old_prev.timestamp < p.timestamp
                    {
                        // Upstream would also get here with a zero point when the pod has an older
                        // sample but this container does not; the store deliberately does not.
                        prev.insert(container.name.clone(), *old_prev);
                    }
                }
            }
            if !prev.is_empty() {
                pods_prev.insert(pod.clone(), prev);
            }
            pods_last.insert(pod.clone(), last);
        }

        *self = Model {
            resolution_ns: self.resolution_ns,
            nodes_last,
            nodes_prev,
            pods_last,
            pods_prev,
        };
    }

    pub fn node(&self, name: &str) -> Option<Usage> {
        usage(self.nodes_last.get(name)?, self.nodes_prev.get(name)?)
    }

    pub fn pod(&self, pod: &PodRef) -> Option<ModelPod> {
        let last = self.pods_last.get(pod)?;
        let prev = self.pods_prev.get(pod)?;
        let mut containers = Vec::new();
        for (name, point) in last {
            if let Some(usage) = usage(point, prev.get(name)?) {
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
        self.nodes_prev.len()
    }

    pub fn container_points(&self) -> usize {
        self.pods_prev.values().map(HashMap::len).sum()
    }

    pub fn ready(&self) -> bool {
        !self.nodes_prev.is_empty() && !self.pods_prev.is_empty()
    }
}

fn usage(last: &MetricsPoint, prev: &MetricsPoint) -> Option<Usage> {
    if last.start_time < prev.start_time || last.cumulative_cpu_ns < prev.cumulative_cpu_ns {
        return None;
    }
    let window = last.timestamp.0.saturating_sub(prev.timestamp.0);
    assert!(window > 0, "the rules never pair samples out of order");
    let seconds = (window / 1_000_000_000) as f64 + (window % 1_000_000_000) as f64 / 1e9;
    Some(Usage {
        timestamp: last.timestamp,
        window_ns: window,
        cpu_nanocores: ((last.cumulative_cpu_ns - prev.cumulative_cpu_ns) as f64 / seconds) as u64,
        memory_bytes: last.memory_bytes,
        swap_bytes: last.swap_bytes,
    })
}
