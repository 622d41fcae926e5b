//! The `/stats/summary` decoder (JSON, the endpoint metrics-server up to v0.5 read). Only the
//! fields metrics-server uses are declared; everything else the kubelet adds (PSI, filesystem,
//! network, …) is skipped by serde, and every declared field may be missing or `null`.

use std::collections::hash_map::Entry;
use std::fmt;

use metric_store::{ContainerPoint, MetricsPoint, NameMap, PodRef, Timestamp};
use serde::{Deserialize, Deserializer};

use super::{KubeletMetrics, MAX_CONTAINERS_PER_POD};

/// A `/stats/summary` body that is not the JSON the kubelet writes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct SummaryDecodeError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Decodes a kubelet `/stats/summary` body into the same shape as `/metrics/resource` gives,
/// with the same validity rules: the node point needs a sample time, CPU and memory; a pod is
/// left out when any of its containers lacks a sample time, CPU or memory (or has zero).
/// Node start time stays unknown, as with `/metrics/resource`, so switching a node between the
/// two endpoints does not look like a restart.
pub fn decode_summary(body: &[u8]) -> Result<KubeletMetrics, SummaryDecodeError> {
    let summary: Summary = serde_json::from_slice(body).map_err(|e| SummaryDecodeError {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;

    let node = &summary.node;
    let node = point(
        Timestamp::ZERO,
        node.cpu.as_ref(),
        node.memory.as_ref(),
        node.swap.as_ref(),
    );

    let mut pods = NameMap::with_capacity_and_hasher(summary.pods.len(), Default::default());
    let mut incomplete_pods = Vec::new();
    let mut oversized_pods = Vec::new();
    for pod in summary.pods {
        let pod_ref = PodRef {
            namespace: pod.pod_ref.namespace,
            name: pod.pod_ref.name,
        };
        if pod.containers.is_empty() {
            continue;
        }
        if pod.containers.len() > MAX_CONTAINERS_PER_POD {
            oversized_pods.push(pod_ref);
            continue;
        }
        let containers: Option<Vec<ContainerPoint>> = pod
            .containers
            .into_iter()
            .map(|c| {
                point(
                    c.start_time.0,
                    c.cpu.as_ref(),
                    c.memory.as_ref(),
                    c.swap.as_ref(),
                )
                .map(|point| ContainerPoint {
                    name: c.name,
                    point,
                })
            })
            .collect();
        match containers {
            // A pod listed twice (old and new UID of a recreated pod) keeps its first entry.
            Some(containers) => {
                if let Entry::Vacant(slot) = pods.entry(pod_ref) {
                    slot.insert(containers);
                }
            }
            None => incomplete_pods.push(pod_ref),
        }
    }
    Ok(KubeletMetrics {
        node,
        pods,
        incomplete_pods,
        oversized_pods,
        duplicate_series: 0,
    })
}

/// A complete point, or `None`. The sample time is the CPU time (upstream's summary decoder),
/// falling back to the memory time.
fn point(
    start_time: Timestamp,
    cpu: Option<&CpuStats>,
    memory: Option<&MemoryStats>,
    swap: Option<&SwapStats>,
) -> Option<MetricsPoint> {
    let cpu_time = cpu.map_or(Timestamp::ZERO, |c| c.time.0);
    let memory_time = memory.map_or(Timestamp::ZERO, |m| m.time.0);
    let timestamp = if cpu_time.is_zero() {
        memory_time
    } else {
        cpu_time
    };
    let cumulative_cpu_ns = cpu.and_then(|c| c.usage_core_nano_seconds).unwrap_or(0);
    let memory_bytes = memory.and_then(|m| m.working_set_bytes).unwrap_or(0);
    if timestamp.is_zero() || cumulative_cpu_ns == 0 || memory_bytes == 0 {
        return None;
    }
    Some(MetricsPoint {
        start_time,
        timestamp,
        cumulative_cpu_ns,
        memory_bytes,
        swap_bytes: swap.and_then(|s| s.swap_usage_bytes),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Summary {
    #[serde(deserialize_with = "null_as_default")]
    node: NodeStats,
    #[serde(deserialize_with = "null_as_default")]
    pods: Vec<PodStats>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NodeStats {
    cpu: Option<CpuStats>,
    memory: Option<MemoryStats>,
    swap: Option<SwapStats>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PodStats {
    #[serde(deserialize_with = "null_as_default")]
    pod_ref: PodReference,
    #[serde(deserialize_with = "null_as_default")]
    containers: Vec<ContainerStats>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PodReference {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    namespace: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ContainerStats {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    start_time: KubeTime,
    cpu: Option<CpuStats>,
    memory: Option<MemoryStats>,
    swap: Option<SwapStats>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CpuStats {
    time: KubeTime,
    usage_core_nano_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct MemoryStats {
    time: KubeTime,
    working_set_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SwapStats {
    swap_usage_bytes: Option<u64>,
}

/// Go's `null` decodes into the zero value; serde would reject it for non-`Option` fields.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A `metav1.Time`: RFC 3339 text, `null` for Go's zero time.
#[derive(Debug, Default, Clone, Copy)]
struct KubeTime(Timestamp);

/// Go's zero `time.Time` (0001-01-01T00:00:00Z) in Unix seconds; it means "unknown".
const GO_ZERO_TIME_UNIX_SECONDS: i64 = -62_135_596_800;

impl<'de> Deserialize<'de> for KubeTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = KubeTime;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 time or null")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<KubeTime, E> {
                let parsed: jiff::Timestamp = text
                    .parse()
                    .map_err(|e| E::custom(format_args!("invalid time {text:?}: {e}")))?;
                if parsed.as_second() == GO_ZERO_TIME_UNIX_SECONDS
                    && parsed.subsec_nanosecond() == 0
                {
                    return Ok(KubeTime(Timestamp::ZERO));
                }
                let nanos = i64::try_from(parsed.as_nanosecond()).unwrap_or(i64::MIN);
                Ok(KubeTime(Timestamp(nanos)))
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<KubeTime, E> {
                Ok(KubeTime(Timestamp::ZERO))
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<KubeTime, E> {
                Ok(KubeTime(Timestamp::ZERO))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
