//! Kubernetes Events on Nodes whose scrapes fail, where users look (`kubectl describe node`,
//! `kubectl get events`), instead of only in metrics-server's log.
//!
//! A node that starts failing, or fails for another reason, gets a `Warning FailedScrape`
//! whose note starts with the failure class (`kubelet_scrape_failures_total{reason}`) and
//! carries the actionable message of the log line; a recovered node gets `Normal
//! ScrapeRecovered`. A node failing the same way cycle after cycle is not an event per cycle:
//! its Warning is repeated every [`REPEAT_EVERY`], which kube's recorder aggregates into the
//! event's series count, as the Go event recorder does. Events go through one task, held to
//! [`EVENTS_PER_SECOND`], so a cluster-wide failure (a wrong CA) cannot flood the API server,
//! and the scrape loop never waits for them.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use cluster_state::ClusterState;
use governor::{Quota, RateLimiter};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kubelet_scraper::Transition;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the Warning of a node that keeps failing the same way is repeated (inside kube's
/// six-minute aggregation window, so it counts up one event rather than creating another).
pub const REPEAT_EVERY: Duration = Duration::from_secs(5 * 60);

/// The most events published per second (bursts of [`EVENTS_BURST`]).
pub const EVENTS_PER_SECOND: u32 = 10;
/// The burst allowed above [`EVENTS_PER_SECOND`].
pub const EVENTS_BURST: u32 = 100;

/// Transitions waiting for the events task; more are dropped (and counted in the log).
const QUEUE: usize = 4096;

/// The `reportingController` of every event, as upstream's component name.
const CONTROLLER: &str = "metrics-server";

/// Hands scrape transitions to the events task.
#[derive(Clone, Debug)]
pub struct NodeEvents {
    sender: mpsc::Sender<Transition>,
}

impl NodeEvents {
    /// Starts the events task; it ends with `cancel`.
    pub fn start(
        client: Client,
        cluster: Arc<ClusterState>,
        cancel: CancellationToken,
    ) -> NodeEvents {
        let reporter = Reporter {
            controller: CONTROLLER.to_owned(),
            // The pod name, when the Deployment passes it (several replicas report apart).
            instance: std::env::var("POD_NAME")
                .ok()
                .filter(|name| !name.is_empty()),
        };
        let (sender, receiver) = mpsc::channel(QUEUE);
        let publisher = Publisher {
            recorder: Recorder::new(client, reporter),
            cluster,
        };
        tokio::spawn(run(publisher, receiver, cancel));
        NodeEvents { sender }
    }

    /// Queues this cycle's transitions; never waits.
    pub fn tell(&self, transitions: Vec<Transition>) {
        let mut dropped = 0usize;
        for transition in transitions {
            if self.sender.try_send(transition).is_err() {
                dropped += 1;
            }
        }
        if dropped > 0 {
            tracing::warn!(dropped, "node events are backed up; some were not recorded");
        }
    }
}

/// What a Node's Warning said, to repeat it while the failure lasts.
struct Told {
    reason: &'static str,
    message: String,
    at: Instant,
}

/// The events of one node, as the Kubernetes API wants them.
struct Publisher {
    recorder: Recorder,
    cluster: Arc<ClusterState>,
}

impl Publisher {
    async fn publish(&self, node: &str, event: Event) {
        // A node that left the cluster has nothing to describe.
        let Some(info) = self.cluster.node(node) else {
            return;
        };
        let reference = ObjectReference {
            api_version: Some("v1".to_owned()),
            kind: Some("Node".to_owned()),
            name: Some(node.to_owned()),
            uid: info.uid.clone(),
            ..ObjectReference::default()
        };
        if let Err(error) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(node, %error, "could not record an event on the node");
        }
    }
}

fn failed_scrape(reason: &str, message: &str) -> Event {
    // The API server caps a note at 1 kB; the class and the start of the message fit.
    let mut note = format!("{reason}: {message}");
    if note.len() > 1000 {
        let mut end = 1000;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
    }
    Event {
        type_: EventType::Warning,
        reason: "FailedScrape".to_owned(),
        note: Some(note),
        // kube's recorder aggregates events by type, reason and action (not note): the class
        // in the action keeps a new cause from counting up the previous cause's event.
        action: pascal_case(reason),
        secondary: None,
    }
}

/// `tls_unknown_authority` → `TlsUnknownAuthority`.
fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn recovered(reason: &str) -> Event {
    Event {
        type_: EventType::Normal,
        reason: "ScrapeRecovered".to_owned(),
        note: Some(format!(
            "metrics-server scrapes this node's kubelet again (it failed with {reason})"
        )),
        action: "Scrape".to_owned(),
        secondary: None,
    }
}

async fn run(
    publisher: Publisher,
    mut transitions: mpsc::Receiver<Transition>,
    cancel: CancellationToken,
) {
    let quota = Quota::per_second(NonZeroU32::new(EVENTS_PER_SECOND).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(EVENTS_BURST).unwrap_or(NonZeroU32::MIN));
    let limiter = RateLimiter::direct(quota);
    let mut failing: HashMap<String, Told> = HashMap::new();
    let mut repeat = tokio::time::interval(Duration::from_secs(60));
    repeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            transition = transitions.recv() => {
                let Some(transition) = transition else { return };
                limiter.until_ready().await;
                match transition {
                    Transition::Failing { node, reason, message } => {
                        publisher.publish(&node, failed_scrape(reason, &message)).await;
                        failing.insert(node, Told { reason, message, at: Instant::now() });
                    }
                    Transition::Recovered { node, reason } => {
                        failing.remove(&node);
                        publisher.publish(&node, recovered(reason)).await;
                    }
                }
            }
            _ = repeat.tick() => {
                let due: Vec<String> = failing
                    .iter()
                    .filter(|(_, told)| told.at.elapsed() >= REPEAT_EVERY)
                    .map(|(node, _)| node.clone())
                    .collect();
                for node in due {
                    limiter.until_ready().await;
                    if let Some(told) = failing.get_mut(&node) {
                        told.at = Instant::now();
                        let event = failed_scrape(told.reason, &told.message);
                        publisher.publish(&node, event).await;
                    }
                }
            }
            () = cancel.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_name_the_class_and_fit_the_api_limit() {
        let event = failed_scrape(
            "tls_unknown_authority",
            "x509: certificate signed by unknown authority",
        );
        assert_eq!(event.type_, EventType::Warning);
        assert_eq!(event.reason, "FailedScrape");
        assert_eq!(
            event.note.as_deref(),
            Some("tls_unknown_authority: x509: certificate signed by unknown authority")
        );
        let long = failed_scrape("decode", &"é".repeat(2000));
        assert!(long.note.unwrap().len() <= 1000);
        assert_eq!(event.action, "TlsUnknownAuthority");
        let back = recovered("request_timeout");
        assert_eq!(
            (back.type_, back.reason.as_str()),
            (EventType::Normal, "ScrapeRecovered")
        );
    }
}
