//! Per-node scrape health: when each node was last scraped successfully and, while its scrapes
//! fail, why. `kubectl top node` shows `<unknown>` for a node whose scrapes fail; this is what
//! lets the server say why where users look (a Node event, the 404 of its NodeMetrics, a
//! self-metric) instead of only in its log.
//!
//! [`ScrapeHealth::record`] takes each cycle's outcomes and returns the transitions worth
//! telling about: a node starts failing, fails for another reason, or recovers. A node failing
//! the same way cycle after cycle is one transition, not one per cycle.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use metric_store::Timestamp;

use crate::cycle::NodeOutcome;

/// A node's scrape history, as far as it matters to a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeHealth {
    /// When the last successful scrape ended.
    pub last_success: Option<Timestamp>,
    /// Set while the node's scrapes fail.
    pub failure: Option<Failure>,
}

/// Why a node's scrapes fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The failure class, as `kubelet_scrape_failures_total{reason}` counts it.
    pub reason: &'static str,
    /// The last error, with what to do about it.
    pub message: String,
    /// When the node started failing for this reason.
    pub since: Timestamp,
    /// When it last failed.
    pub last: Timestamp,
    /// Cycles failed in a row for this reason.
    pub cycles: u64,
}

/// A change in a node's scrape health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The node's scrapes started failing, or now fail for another reason.
    Failing {
        node: String,
        reason: &'static str,
        message: String,
    },
    /// The node's scrapes succeed again after failing for `reason`.
    Recovered { node: String, reason: &'static str },
}

/// The scrape health of every node scraped, updated once per cycle.
#[derive(Debug, Default)]
pub struct ScrapeHealth {
    nodes: Mutex<HashMap<String, NodeHealth>>,
}

impl ScrapeHealth {
    /// Records one cycle: `outcomes` of the nodes scraped at `now`; nodes not among them (left
    /// the cluster or the node selector) are forgotten. Returns what changed.
    pub fn record(&self, outcomes: &[NodeOutcome], now: Timestamp) -> Vec<Transition> {
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        // A set, not a scan of the outcomes per node: this runs every cycle for every node.
        let scraped: HashSet<&str> = outcomes
            .iter()
            .map(|outcome| outcome.node.as_str())
            .collect();
        nodes.retain(|name, _| scraped.contains(name.as_str()));
        let mut transitions = Vec::new();
        for outcome in outcomes {
            let health = nodes
                .entry(outcome.node.clone())
                .or_insert_with(|| NodeHealth {
                    last_success: None,
                    failure: None,
                });
            match &outcome.result {
                Ok(_) => {
                    health.last_success = Some(now);
                    if let Some(failure) = health.failure.take() {
                        transitions.push(Transition::Recovered {
                            node: outcome.node.clone(),
                            reason: failure.reason,
                        });
                    }
                }
                Err(error) => {
                    let reason = error.reason();
                    let message = error.to_string();
                    match &mut health.failure {
                        Some(failure) if failure.reason == reason => {
                            failure.last = now;
                            failure.cycles += 1;
                            failure.message = message;
                        }
                        _ => {
                            health.failure = Some(Failure {
                                reason,
                                message: message.clone(),
                                since: now,
                                last: now,
                                cycles: 1,
                            });
                            transitions.push(Transition::Failing {
                                node: outcome.node.clone(),
                                reason,
                                message,
                            });
                        }
                    }
                }
            }
        }
        transitions
    }

    /// One node's health, if it was scraped in the last cycle.
    pub fn node(&self, name: &str) -> Option<NodeHealth> {
        self.nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Every node's last successful scrape (for the per-node self-metric).
    pub fn last_successes(&self) -> Vec<(String, Option<Timestamp>)> {
        self.nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, health)| (name.clone(), health.last_success))
            .collect()
    }

    /// How many nodes fail now, by reason.
    pub fn failing_by_reason(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for health in self
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            if let Some(failure) = &health.failure {
                *out.entry(failure.reason).or_default() += 1;
            }
        }
        out
    }

    /// Why `node` has no metrics, in a sentence for an API answer: its last failure and how
    /// long ago, or `None` when its scrapes succeed (or it was never scraped).
    pub fn explain(&self, node: &str, now: Timestamp) -> Option<String> {
        let health = self.node(node)?;
        let failure = health.failure?;
        let ago = seconds_between(failure.last, now);
        let streak = if failure.cycles > 1 {
            format!(
                " (failing for {}s, {} scrapes in a row)",
                seconds_between(failure.since, now),
                failure.cycles
            )
        } else {
            String::new()
        };
        Some(format!(
            "the last scrape of node {node:?}, {ago}s ago, failed{streak}: {}",
            failure.message
        ))
    }
}

fn seconds_between(earlier: Timestamp, later: Timestamp) -> i64 {
    (later.as_unix_nanos() - earlier.as_unix_nanos()).max(0) / 1_000_000_000
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Endpoint;
    use crate::ScrapeError;
    use crate::cycle::NodeStats;

    const S: i64 = 1_000_000_000;

    fn ok(node: &str) -> NodeOutcome {
        NodeOutcome {
            node: node.to_owned(),
            duration: Duration::ZERO,
            result: Ok(NodeStats {
                endpoint: Endpoint::Resource,
                node_point: true,
                pods: 0,
                containers: 0,
                incomplete_pods: 0,
                duplicate_pods: 0,
                unadmitted_pods: 0,
                oversized_pods: 0,
                duplicate_series: 0,
            }),
        }
    }

    fn failed(node: &str, error: ScrapeError) -> NodeOutcome {
        NodeOutcome {
            node: node.to_owned(),
            duration: Duration::ZERO,
            result: Err(error),
        }
    }

    fn refused() -> ScrapeError {
        ScrapeError::ConnectionRefused {
            url: "https://10.0.0.5:10250/metrics/resource".into(),
        }
    }

    fn forbidden() -> ScrapeError {
        ScrapeError::Forbidden {
            url: "https://10.0.0.5:10250/metrics/resource".into(),
            subresource: "metrics",
            body: String::new(),
        }
    }

    #[test]
    fn a_failure_is_told_once_then_a_new_reason_then_the_recovery() {
        let health = ScrapeHealth::default();
        assert_eq!(health.record(&[ok("a"), ok("b")], Timestamp(10 * S)), []);
        let first = health.record(&[ok("a"), failed("b", refused())], Timestamp(25 * S));
        assert!(
            matches!(&first[..], [Transition::Failing { node, reason: "connection_refused", .. }] if node == "b"),
            "{first:?}"
        );
        // The same failure again is no news.
        assert_eq!(
            health.record(&[ok("a"), failed("b", refused())], Timestamp(40 * S)),
            []
        );
        let b = health.node("b").unwrap();
        assert_eq!(b.last_success, Some(Timestamp(10 * S)));
        let failure = b.failure.unwrap();
        assert_eq!(
            (failure.since, failure.last, failure.cycles),
            (Timestamp(25 * S), Timestamp(40 * S), 2)
        );
        assert_eq!(
            health.failing_by_reason(),
            BTreeMap::from([("connection_refused", 1)])
        );
        let explained = health.explain("b", Timestamp(52 * S)).unwrap();
        assert!(
            explained.starts_with(r#"the last scrape of node "b", 12s ago, failed (failing for 27s, 2 scrapes in a row): "#),
            "{explained}"
        );
        assert_eq!(health.explain("a", Timestamp(52 * S)), None);
        assert_eq!(health.explain("unknown", Timestamp(52 * S)), None);

        // Another reason is news.
        let changed = health.record(&[ok("a"), failed("b", forbidden())], Timestamp(55 * S));
        assert!(
            matches!(
                &changed[..],
                [Transition::Failing {
                    reason: "forbidden",
                    ..
                }]
            ),
            "{changed:?}"
        );
        // So is the recovery, once.
        assert_eq!(
            health.record(&[ok("a"), ok("b")], Timestamp(70 * S)),
            [Transition::Recovered {
                node: "b".into(),
                reason: "forbidden"
            }]
        );
        assert_eq!(health.record(&[ok("a"), ok("b")], Timestamp(85 * S)), []);
        assert!(health.failing_by_reason().is_empty());
    }

    #[test]
    fn nodes_no_longer_scraped_are_forgotten() {
        let health = ScrapeHealth::default();
        health.record(&[ok("a"), failed("b", refused())], Timestamp(10 * S));
        health.record(&[ok("a")], Timestamp(25 * S));
        assert_eq!(health.node("b"), None);
        assert_eq!(
            health.last_successes(),
            [("a".to_owned(), Some(Timestamp(25 * S)))]
        );
        // Back after leaving: a fresh start, its failure told again.
        let back = health.record(&[ok("a"), failed("b", refused())], Timestamp(40 * S));
        assert_eq!(back.len(), 1);
    }
}
