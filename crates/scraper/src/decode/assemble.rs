//! Upstream metrics-server's meaning of `/metrics/resource` series, independent of how lines are
//! tokenized: unit conversions, timestamp defaults, duplicate and value checks, and the rules
//! that drop incomplete node points and pods.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use metric_store::{ContainerPoint, MetricsPoint, PodRef, Timestamp};

use super::KubeletMetrics;
use super::family::Family;
use super::text::{ResourceDecodeError, ResourceErrorKind};

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

#[derive(Debug)]
struct PodEntry {
    namespace: String,
    name: String,
    containers: Vec<ContainerEntry>,
}

/// Collects series into node and container points.
#[derive(Debug)]
pub(crate) struct Assembler {
    scrape_start: Timestamp,
    node: MetricsPoint,
    node_seen: u8,
    /// namespace → pod name → index into `pods`; two levels so lookups borrow `&str` keys and
    /// allocate nothing for pods already seen.
    pod_index: HashMap<String, HashMap<String, usize>>,
    pods: Vec<PodEntry>,
}

impl Assembler {
    /// `scrape_start` stands in for samples written without a timestamp, as upstream does.
    pub(crate) fn new(scrape_start: Timestamp) -> Self {
        Assembler {
            scrape_start,
            node: MetricsPoint::default(),
            node_seen: 0,
            pod_index: HashMap::new(),
            pods: Vec::new(),
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
            if self.node_seen & family.bit() != 0 {
                return Err(fail(ResourceErrorKind::DuplicateSeries {
                    family: family.name(),
                }));
            }
            self.node_seen |= family.bit();
            apply(&mut self.node, family, series.value, timestamp);
            return Ok(());
        }

        let container = required_label(series.container, family, "container").map_err(fail)?;
        let namespace = required_label(series.namespace, family, "namespace").map_err(fail)?;
        let pod = required_label(series.pod, family, "pod").map_err(fail)?;

        let pod_entry = self.pod_entry(&namespace, &pod);
        let entry = match pod_entry
            .containers
            .iter()
            .position(|c| c.name == container)
        {
            Some(index) => &mut pod_entry.containers[index],
            None => {
                pod_entry.containers.push(ContainerEntry {
                    name: container.into_owned(),
                    point: MetricsPoint::default(),
                    seen: 0,
                });
                let last = pod_entry.containers.len() - 1;
                &mut pod_entry.containers[last]
            }
        };
        if entry.seen & family.bit() != 0 {
            return Err(fail(ResourceErrorKind::DuplicateSeries {
                family: family.name(),
            }));
        }
        entry.seen |= family.bit();
        apply(&mut entry.point, family, series.value, timestamp);
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
                });
                match self.pod_index.get_mut(namespace) {
                    Some(by_name) => {
                        by_name.insert(pod.to_owned(), index);
                    }
                    None => {
                        self.pod_index.insert(
                            namespace.to_owned(),
                            HashMap::from([(pod.to_owned(), index)]),
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

        let mut pods = HashMap::with_capacity(self.pods.len());
        let mut incomplete_pods = Vec::new();
        for pod in self.pods {
            let pod_ref = PodRef {
                namespace: pod.namespace,
                name: pod.name,
            };
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
