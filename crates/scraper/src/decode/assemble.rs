//! Upstream metrics-server's meaning of `/metrics/resource` series, independent of how lines are
//! tokenized: unit conversions, timestamp defaults, duplicate series (the later line wins),
//! value checks, and the rules that drop incomplete node points and pods.
//!
//! Every series costs O(1) expected work whatever the body holds (pods and, past a few,
//! containers are found through hash indexes), so decoding is linear in the body's size and the
//! body size limit bounds the work; a pod may hold at most [`MAX_CONTAINERS_PER_POD`].

use std::borrow::Cow;
use std::collections::hash_map::Entry;

use metric_store::{ContainerPoint, MetricsPoint, NameMap, PodRef, Timestamp};

use super::family::Family;
use super::text::{ResourceDecodeError, ResourceErrorKind};
use super::{KubeletMetrics, MAX_CONTAINERS_PER_POD};

/// One sample line of a family the decoders act on, as a tokenizer found it.
#[derive(Debug)]
pub(crate) struct Series<'a> {
    pub family: Family,
    /// The `container`, `namespace` and `pod` label values (only read for container families).
    pub container: Option<Cow<'a, str>>,
    pub namespace: Option<Cow<'a, str>>,
    pub pod: Option<Cow<'a, str>>,
    pub value: f64,
    /// The value as written, for error messages.
    pub raw_value: &'a str,
    pub timestamp_ms: Option<i64>,
}

#[derive(Debug)]
struct ContainerEntry {
    name: String,
    point: MetricsPoint,
    seen: u8,
}

/// Pods with up to this many containers find them by a linear scan (cheaper than hashing for
/// the one to five containers real pods have); larger pods get a name index.
const LINEAR_SCAN_CONTAINERS: usize = 8;

#[derive(Debug)]
struct PodEntry {
    namespace: String,
    name: String,
    containers: Vec<ContainerEntry>,
    /// Container name → index into `containers`, built once the pod passes
    /// [`LINEAR_SCAN_CONTAINERS`].
    container_index: Option<NameMap<String, usize>>,
    /// The pod reported more than [`MAX_CONTAINERS_PER_POD`] containers; it is left out.
    oversized: bool,
}

impl PodEntry {
    /// The entry for `container`, added if new; `None` once the pod is oversized.
    fn container(&mut self, container: Cow<'_, str>) -> Option<&mut ContainerEntry> {
        let known = match &self.container_index {
            Some(index) => index.get(container.as_ref()).copied(),
            None => self.containers.iter().position(|c| c.name == container),
        };
        let index = match known {
            Some(index) => index,
            None if self.oversized => return None,
            None if self.containers.len() >= MAX_CONTAINERS_PER_POD => {
                // Stop collecting: what is already here is dropped at the end, and the
                // index stays as it is, so the rest of the body costs no more memory.
                self.oversized = true;
                return None;
            }
            None => {
                let index = self.containers.len();
                let name = container.into_owned();
                if let Some(by_name) = &mut self.container_index {
                    by_name.insert(name.clone(), index);
                } else if index >= LINEAR_SCAN_CONTAINERS {
                    let mut by_name: NameMap<String, usize> = self
                        .containers
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.name.clone(), i))
                        .collect();
                    by_name.insert(name.clone(), index);
                    self.container_index = Some(by_name);
                }
                self.containers.push(ContainerEntry {
                    name,
                    point: MetricsPoint::default(),
                    seen: 0,
                });
                index
            }
        };
        self.containers.get_mut(index)
    }
}

/// Collects series into node and container points.
#[derive(Debug)]
pub(crate) struct Assembler {
    scrape_start: Timestamp,
    node: MetricsPoint,
    node_seen: u8,
    /// namespace → pod name → index into `pods`; two levels so lookups borrow `&str` keys and
    /// allocate nothing for pods already seen.
    pod_index: NameMap<String, NameMap<String, usize>>,
    pods: Vec<PodEntry>,
    /// Series seen again in the same body (the later line won).
    duplicate_series: usize,
}

impl Assembler {
    /// `scrape_start` stands in for samples written without a timestamp, as upstream does.
    pub(crate) fn new(scrape_start: Timestamp) -> Self {
        Assembler {
            scrape_start,
            node: MetricsPoint::default(),
            node_seen: 0,
            pod_index: NameMap::default(),
            pods: Vec::new(),
            duplicate_series: 0,
        }
    }

    pub(crate) fn add(
        &mut self,
        line: usize,
        series: Series<'_>,
    ) -> Result<(), ResourceDecodeError> {
        let fail = |kind| ResourceDecodeError::new(line, kind);
        let family = series.family;
        if let Family::ScrapeError(name) = family {
            // Any value but 0 (NaN included) means the kubelet could not collect stats.
            if series.value != 0.0 {
                return Err(fail(ResourceErrorKind::KubeletReportedError {
                    family: name,
                    value: series.raw_value.to_owned(),
                }));
            }
            return Ok(());
        }
        if !series.value.is_finite() || series.value < 0.0 {
            return Err(fail(ResourceErrorKind::InvalidValue {
                family: family.name(),
                value: series.raw_value.to_owned(),
            }));
        }
        let timestamp = series
            .timestamp_ms
            .map_or(self.scrape_start, Timestamp::from_unix_millis);

        if !family.is_container() {
            // The node's series can repeat too; the later line wins here as well.
            if self.node_seen & family.bit() != 0 {
                self.duplicate_series += 1;
            }
            self.node_seen |= family.bit();
            apply(&mut self.node, family, series.value, timestamp);
            return Ok(());
        }

        let container = required_label(series.container, family, "container").map_err(fail)?;
        let namespace = required_label(series.namespace, family, "namespace").map_err(fail)?;
        let pod = required_label(series.pod, family, "pod").map_err(fail)?;

        let Some(entry) = self.pod_entry(&namespace, &pod).container(container) else {
            return Ok(());
        };
        // Real kubelets repeat series for zombie cgroups (metrics-server#1778): like
        // upstream, the later line wins, and the repeat is counted instead of failing the node.
        let repeated = entry.seen & family.bit() != 0;
        entry.seen |= family.bit();
        apply(&mut entry.point, family, series.value, timestamp);
        if repeated {
            self.duplicate_series += 1;
        }
        Ok(())
    }

    fn pod_entry(&mut self, namespace: &str, pod: &str) -> &mut PodEntry {
        let known = self
            .pod_index
            .get(namespace)
            .and_then(|by_name| by_name.get(pod))
            .copied();
        let index = match known {
            Some(index) => index,
            None => {
                let index = self.pods.len();
                self.pods.push(PodEntry {
                    namespace: namespace.to_owned(),
                    name: pod.to_owned(),
                    containers: Vec::new(),
                    container_index: None,
                    oversized: false,
                });
                match self.pod_index.get_mut(namespace) {
                    Some(by_name) => {
                        by_name.insert(pod.to_owned(), index);
                    }
                    None => {
                        self.pod_index.insert(
                            namespace.to_owned(),
                            [(pod.to_owned(), index)].into_iter().collect(),
                        );
                    }
                }
                index
            }
        };
        &mut self.pods[index]
    }

    /// Applies upstream's validity rules and hands out the result.
    pub(crate) fn finish(self) -> KubeletMetrics {
        let node = &self.node;
        let node =
            (!node.timestamp.is_zero() && node.cumulative_cpu_ns != 0 && node.memory_bytes != 0)
                .then_some(self.node);

        let mut pods = NameMap::with_capacity_and_hasher(self.pods.len(), Default::default());
        let mut incomplete_pods = Vec::new();
        let mut oversized_pods = Vec::new();
        for pod in self.pods {
            let pod_ref = PodRef {
                namespace: pod.namespace,
                name: pod.name,
            };
            if pod.oversized {
                oversized_pods.push(pod_ref);
                continue;
            }
            match complete_containers(pod.containers) {
                Some(containers) if containers.is_empty() => {}
                Some(containers) => match pods.entry(pod_ref) {
                    Entry::Vacant(slot) => {
                        slot.insert(containers);
                    }
                    // Unreachable: the index above gives each pod one entry.
                    Entry::Occupied(_) => {}
                },
                None => incomplete_pods.push(pod_ref),
            }
        }
        KubeletMetrics {
            node,
            pods,
            incomplete_pods,
            oversized_pods,
            duplicate_series: self.duplicate_series,
        }
    }
}

fn required_label<'a>(
    value: Option<Cow<'a, str>>,
    family: Family,
    label: &'static str,
) -> Result<Cow<'a, str>, ResourceErrorKind> {
    match value {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ResourceErrorKind::MissingLabel {
            family: family.name(),
            label,
        }),
    }
}

/// A pod's containers, or `None` when the pod must be dropped: a container that has anything
/// (a start time, a timestamp) but lacks CPU or memory spoils the whole pod, because the HPA
/// treats a missing pod differently from one reporting zero. Containers with nothing at all
/// (only swap, say) are skipped silently, as upstream skips all-zero points.
fn complete_containers(containers: Vec<ContainerEntry>) -> Option<Vec<ContainerPoint>> {
    let mut complete = Vec::with_capacity(containers.len());
    for ContainerEntry { name, point, .. } in containers {
        let empty = point.cumulative_cpu_ns == 0
            && point.memory_bytes == 0
            && point.start_time.is_zero()
            && point.timestamp.is_zero();
        if empty {
            continue;
        }
        if point.cumulative_cpu_ns == 0 || point.memory_bytes == 0 {
            return None;
        }
        complete.push(ContainerPoint { name, point });
    }
    Some(complete)
}

/// Stores one value. CPU and memory set the sample time ("last line wins", as upstream: the
/// kubelet prints CPU before memory, so memory's time is kept). Start time and swap do not:
/// start time is not a sample, and swap is not part of upstream's rate computation.
fn apply(point: &mut MetricsPoint, family: Family, value: f64, timestamp: Timestamp) {
    // `as` truncates toward zero and saturates, like Go's conversion for every value a kubelet
    // can produce (Go's result for values beyond u64 is unspecified).
    match family {
        Family::NodeCpu | Family::ContainerCpu => {
            point.cumulative_cpu_ns = (value * 1e9) as u64;
            point.timestamp = timestamp;
        }
        Family::NodeMemory | Family::ContainerMemory => {
            point.memory_bytes = value as u64;
            point.timestamp = timestamp;
        }
        Family::NodeSwap | Family::ContainerSwap => point.swap_bytes = Some(value as u64),
        Family::ContainerStartTime => point.start_time = Timestamp((value * 1e9) as i64),
        Family::ScrapeError(_) => {}
    }
}
