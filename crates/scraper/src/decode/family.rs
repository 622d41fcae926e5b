//! The metric families of `/metrics/resource` that carry meaning for metrics-server.

/// A family the decoders act on; every other family is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    NodeCpu,
    NodeMemory,
    NodeSwap,
    ContainerCpu,
    ContainerMemory,
    ContainerStartTime,
    ContainerSwap,
    /// `resource_scrape_error` (1.29+) or `scrape_error` (up to 1.29): 1 when the kubelet's
    /// stats provider failed and the body holds nothing else.
    ScrapeError(&'static str),
}

impl Family {
    /// Looks a series name up by exact match (upstream also requires the name to end there).
    pub(crate) fn from_name(name: &str) -> Option<Family> {
        Some(match name {
            "node_cpu_usage_seconds_total" => Family::NodeCpu,
            "node_memory_working_set_bytes" => Family::NodeMemory,
            "node_swap_usage_bytes" => Family::NodeSwap,
            "container_cpu_usage_seconds_total" => Family::ContainerCpu,
            "container_memory_working_set_bytes" => Family::ContainerMemory,
            "container_start_time_seconds" => Family::ContainerStartTime,
            "container_swap_usage_bytes" => Family::ContainerSwap,
            "resource_scrape_error" => Family::ScrapeError("resource_scrape_error"),
            "scrape_error" => Family::ScrapeError("scrape_error"),
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Family::NodeCpu => "node_cpu_usage_seconds_total",
            Family::NodeMemory => "node_memory_working_set_bytes",
            Family::NodeSwap => "node_swap_usage_bytes",
            Family::ContainerCpu => "container_cpu_usage_seconds_total",
            Family::ContainerMemory => "container_memory_working_set_bytes",
            Family::ContainerStartTime => "container_start_time_seconds",
            Family::ContainerSwap => "container_swap_usage_bytes",
            Family::ScrapeError(name) => name,
        }
    }

    /// Whether series of this family are keyed by container labels.
    pub(crate) fn is_container(self) -> bool {
        matches!(
            self,
            Family::ContainerCpu
                | Family::ContainerMemory
                | Family::ContainerStartTime
                | Family::ContainerSwap
        )
    }

    /// One bit per family, to notice a series seen twice without allocating.
    pub(crate) fn bit(self) -> u8 {
        match self {
            Family::NodeCpu | Family::ContainerCpu => 1,
            Family::NodeMemory | Family::ContainerMemory => 2,
            Family::NodeSwap | Family::ContainerSwap => 4,
            Family::ContainerStartTime => 8,
            Family::ScrapeError(_) => 16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_near_misses_are_ignored() {
        for family in [
            Family::NodeCpu,
            Family::NodeMemory,
            Family::NodeSwap,
            Family::ContainerCpu,
            Family::ContainerMemory,
            Family::ContainerStartTime,
            Family::ContainerSwap,
            Family::ScrapeError("scrape_error"),
            Family::ScrapeError("resource_scrape_error"),
        ] {
            assert_eq!(Family::from_name(family.name()), Some(family));
        }
        assert_eq!(Family::from_name("pod_cpu_usage_seconds_total"), None);
        assert_eq!(
            Family::from_name("node_cpu_usage_seconds_total_extra"),
            None
        );
        assert_eq!(Family::from_name("container_swap_limit_bytes"), None);
    }
}
