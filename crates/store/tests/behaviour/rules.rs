//! One test (at least) per storage rule of upstream metrics-server (`pkg/storage`: rates, windows, restarts,
//! fresh containers, all-containers-or-nothing pods).

use std::time::Duration;

use metric_store::{Readiness, Store, StoreSummary, Timestamp, Usage};

use crate::support::*;

#[test]
fn first_scrape_serves_nothing() {
    let store = store();
    let summary = store.store(
        batch()
            .node("n1", old(0, CPU_S))
            .container("ns", "p", "c", old(0, CPU_S))
            .build(),
    );

    let snapshot = store.snapshot();
    assert_eq!(snapshot.node("n1"), None);
    assert!(snapshot.pod("ns", "p").is_none());
    assert_eq!(snapshot.nodes().count(), 0);
    assert_eq!(snapshot.pods().count(), 0);
    assert!(!snapshot.is_ready());
    assert_eq!((summary.nodes, summary.pods, summary.containers), (1, 1, 1));
    assert_eq!((summary.node_points, summary.container_points), (0, 0));
}

#[test]
fn second_scrape_serves_rate_window_memory_and_timestamp() {
    let store = store();
    store.store(
        batch()
            .node("n1", old(0, 10 * CPU_S))
            .container("ns", "p", "c", old(1, 5 * CPU_S))
            .build(),
    );
    let mut node_point = old(15, 13 * CPU_S);
    node_point.memory_bytes = 3_000_000;
    node_point.swap_bytes = Some(4096);
    let mut container_point = old(16, 5 * CPU_S + 750_000_000);
    container_point.memory_bytes = 12_345;
    store.store(
        batch()
            .node("n1", node_point)
            .container("ns", "p", "c", container_point)
            .build(),
    );

    let snapshot = store.snapshot();
    let expected_node = Usage {
        timestamp: at(15),
        window_ns: 15 * S,
        cpu_nanocores: 200_000_000,
        memory_bytes: 3_000_000,
        swap_bytes: Some(4096),
    };
    assert_eq!(snapshot.node("n1"), Some(expected_node));
    assert_eq!(
        snapshot.nodes().collect::<Vec<_>>(),
        [("n1", expected_node)]
    );

    let pod = snapshot.pod("ns", "p").unwrap();
    assert_eq!((pod.namespace(), pod.name()), ("ns", "p"));
    assert_eq!((pod.timestamp(), pod.window_ns()), (at(16), 15 * S));
    let expected_container = Usage {
        timestamp: at(16),
        window_ns: 15 * S,
        cpu_nanocores: 50_000_000,
        memory_bytes: 12_345,
        swap_bytes: None,
    };
    assert_eq!(
        pod.containers().collect::<Vec<_>>(),
        [("c", expected_container)]
    );
    assert!(snapshot.is_ready());
}

#[test]
fn node_cpu_decrease_serves_nothing_for_that_read_but_counts_as_ready() {
    let store = store();
    store.store(
        batch()
            .node("n1", old(0, 100 * CPU_S))
            .container("ns", "p", "c", old(0, CPU_S))
            .build(),
    );
    // A reboot: the counter restarts from a small value. Node start time is never reported.
    let summary = store.store(
        batch()
            .node("n1", old(15, 2 * CPU_S))
            .container("ns", "p", "c", old(15, 2 * CPU_S))
            .build(),
    );

    let snapshot = store.snapshot();
    assert_eq!(snapshot.node("n1"), None);
    assert_eq!(snapshot.nodes().count(), 0);
    assert_eq!(
        (
            summary.node_usage_errors,
            summary.node_points,
            summary.servable_nodes
        ),
        (1, 1, 0)
    );
    assert_eq!(snapshot.node_points(), 1);
    assert!(snapshot.node_ready() && snapshot.is_ready());

    // The next sample pairs with the post-reboot one and is served again.
    store.store(batch().node("n1", old(30, 5 * CPU_S)).build());
    assert_eq!(
        store.snapshot().node("n1").map(|u| u.cpu_nanocores),
        Some(200_000_000)
    );
}

#[test]
fn container_cpu_decrease_skips_the_container_but_serves_the_pod() {
    let store = store();
    store.store(
        batch()
            .container("ns", "p", "c", old(0, 100 * CPU_S))
            .build(),
    );
    let summary = store.store(
        batch()
            .container("ns", "p", "c", old(15, 99 * CPU_S))
            .build(),
    );

    let snapshot = store.snapshot();
    let pod = snapshot.pod("ns", "p").unwrap();
    assert_eq!(pod.containers().count(), 0);
    // No successful container: zero time, which the API prints as `null` and "0s".
    assert_eq!((pod.timestamp(), pod.window_ns()), (Timestamp::ZERO, 0));
    assert_eq!(pod_names(&snapshot), ["ns/p"]);
    assert_eq!(summary.container_usage_errors, 1);
    assert!(snapshot.pod_ready());
}

#[test]
fn start_time_decrease_skips_the_container() {
    let store = store();
    store.store(
        batch()
            .container("ns", "p", "a", sample(-100, 0, CPU_S))
            .container("ns", "p", "b", old(0, CPU_S))
            .build(),
    );
    // `a` now claims to have started earlier than before; history is still carried (its start is
    // before the stored sample), so the decrease surfaces when the rate is computed.
    let summary = store.store(
        batch()
            .container("ns", "p", "a", sample(-200, 15, 2 * CPU_S))
            .container("ns", "p", "b", old(15, 2 * CPU_S))
            .build(),
    );

    assert_eq!(
        container_names(&store.snapshot(), "ns", "p").unwrap(),
        ["b"]
    );
    assert_eq!(summary.container_usage_errors, 1);
    assert_eq!(summary.container_points, 2);
}

#[test]
fn node_start_time_decrease_is_a_usage_error() {
    let store = store();
    store.store(batch().node("n1", sample(-100, 0, CPU_S)).build());
    store.store(batch().node("n1", sample(-200, 15, 2 * CPU_S)).build());
    assert_eq!(store.snapshot().node("n1"), None);
    assert_eq!(store.snapshot().node_points(), 1);
}

#[test]
fn restart_younger_than_ten_seconds_drops_history_until_the_next_scrape() {
    let store = store();
    store.store(
        batch()
            .container("ns", "p", "c", old(0, 100 * CPU_S))
            .build(),
    );
    // Started at 10 s, after the stored sample at 0 s: a restart, and only 5 s old.
    let summary = store.store(
        batch()
            .container("ns", "p", "c", sample(10, 15, CPU_S))
            .build(),
    );
    assert!(store.snapshot().pod("ns", "p").is_none());
    assert_eq!((summary.container_points, summary.fresh_containers), (0, 0));

    store.store(
        batch()
            .container("ns", "p", "c", sample(10, 30, 4 * CPU_S))
            .build(),
    );
    let usage = containers(&store.snapshot(), "ns", "p").unwrap()[0].1;
    assert_eq!(
        (usage.window_ns, usage.cpu_nanocores),
        (15 * S, 200_000_000)
    );
}

#[test]
fn restart_older_than_the_resolution_drops_history() {
    let store = store();
    store.store(
        batch()
            .container("ns", "p", "c", old(0, 100 * CPU_S))
            .build(),
    );
    // Started at 30 s, after the stored sample: restarted, and 30 s old is beyond the 15 s resolution.
    let summary = store.store(
        batch()
            .container("ns", "p", "c", sample(30, 60, CPU_S))
            .build(),
    );
    assert!(store.snapshot().pod("ns", "p").is_none());
    assert_eq!(summary.container_points, 0);
}

#[test]
fn start_at_the_stored_sample_time_counts_as_a_restart() {
    let store = store();
    store.store(batch().container("ns", "p", "c", old(0, 0)).build());
    // History needs the start strictly before the stored sample; 20 s old is not fresh either.
    store.store(
        batch()
            .container("ns", "p", "c", sample(0, 20, CPU_S))
            .build(),
    );
    assert!(store.snapshot().pod("ns", "p").is_none());
}

#[test]
fn restart_within_the_fresh_window_is_served_from_its_start() {
    let store = store();
    store.store(
        batch()
            .container("ns", "p", "c", old(0, 100 * CPU_S))
            .build(),
    );
    store.store(
        batch()
            .container("ns", "p", "c", sample(3, 15, 3 * CPU_S))
            .build(),
    );
    let usage = containers(&store.snapshot(), "ns", "p").unwrap()[0].1;
    assert_eq!(
        (usage.window_ns, usage.cpu_nanocores),
        (12 * S, 250_000_000)
    );
}

/// Stores one first sample of a container that is `age_ns` old and returns its usage.
fn first_scrape_of_container_aged(age_ns: i64) -> Option<Usage> {
    let store = store();
    let mut point = sample(0, 0, 6 * CPU_S);
    point.timestamp = Timestamp(point.start_time.0 + age_ns);
    store.store(batch().container("ns", "p", "c", point).build());
    containers(&store.snapshot(), "ns", "p").map(|list| list[0].1)
}

#[test]
fn fresh_container_exactly_ten_seconds_old_is_served_after_one_scrape() {
    let usage = first_scrape_of_container_aged(10 * S).unwrap();
    assert_eq!(usage.window_ns, 10 * S);
    assert_eq!(usage.cpu_nanocores, 600_000_000);
    assert_eq!(usage.timestamp, Timestamp(at(0).0 + 10 * S));
}

#[test]
fn fresh_container_one_nanosecond_short_of_ten_seconds_is_not_served() {
    assert_eq!(first_scrape_of_container_aged(10 * S - 1), None);
}

#[test]
fn fresh_container_one_nanosecond_younger_than_the_resolution_is_served() {
    let usage = first_scrape_of_container_aged(15 * S - 1).unwrap();
    assert_eq!(usage.window_ns, 15 * S - 1);
}

#[test]
fn container_as_old_as_the_resolution_is_not_fresh() {
    assert_eq!(first_scrape_of_container_aged(15 * S), None);
}

#[test]
fn fresh_shortcut_counts_as_a_point_and_makes_the_store_ready() {
    let store = store();
    let summary = store.store(
        batch()
            .node("n1", old(0, CPU_S))
            .container("ns", "p", "c", sample(-12, 0, CPU_S))
            .build(),
    );
    assert_eq!(
        (
            summary.fresh_containers,
            summary.container_points,
            summary.pods_with_prev
        ),
        (1, 1, 1)
    );
    assert!(summary.readiness_after.pods && !summary.readiness_after.nodes);
}

#[test]
fn nodes_never_take_the_fresh_shortcut() {
    let store = store();
    store.store(batch().node("n1", sample(-12, 0, CPU_S)).build());
    assert_eq!(store.snapshot().node("n1"), None);
    assert_eq!(store.snapshot().node_points(), 0);
}

#[test]
fn fresh_shortcut_wins_over_real_history() {
    let store = Store::new(Duration::from_secs(60));
    // 5 s old at the first sample (too young), 20 s old at the second: fresh, though a real
    // older sample exists, so the window is the container's age rather than the 15 s spacing.
    store.store(
        batch()
            .container("ns", "p", "c", sample(-5, 0, CPU_S))
            .build(),
    );
    store.store(
        batch()
            .container("ns", "p", "c", sample(-5, 15, 4 * CPU_S))
            .build(),
    );
    let usage = containers(&store.snapshot(), "ns", "p").unwrap()[0].1;
    assert_eq!(
        (usage.window_ns, usage.cpu_nanocores),
        (20 * S, 200_000_000)
    );
}

/// Two stores 15 s apart for node `n1` and container `ns/p/c`.
fn store_with_history() -> Store {
    let store = store();
    store.store(
        batch()
            .node("n1", old(0, 0))
            .container("ns", "p", "c", old(0, 0))
            .build(),
    );
    store.store(
        batch()
            .node("n1", old(15, 15 * CPU_S))
            .container("ns", "p", "c", old(15, 15 * CPU_S))
            .build(),
    );
    store
}

fn node_and_container_window(store: &Store) -> (Option<i64>, Option<i64>) {
    let snapshot = store.snapshot();
    let container = containers(&snapshot, "ns", "p").map(|list| list[0].1.window_ns);
    (snapshot.node("n1").map(|usage| usage.window_ns), container)
}

#[test]
fn repeated_timestamp_keeps_the_older_sample() {
    let store = store_with_history();
    let summary = store.store(
        batch()
            .node("n1", old(15, 15 * CPU_S))
            .container("ns", "p", "c", old(15, 15 * CPU_S))
            .build(),
    );
    assert_eq!(
        node_and_container_window(&store),
        (Some(15 * S), Some(15 * S))
    );
    assert_eq!(summary.prevs_dropped(), 0);
}

#[test]
fn point_older_than_last_but_newer_than_prev_keeps_prev() {
    let store = store_with_history();
    store.store(
        batch()
            .node("n1", old(10, 10 * CPU_S))
            .container("ns", "p", "c", old(10, 10 * CPU_S))
            .build(),
    );
    assert_eq!(
        node_and_container_window(&store),
        (Some(10 * S), Some(10 * S))
    );
}

#[test]
fn point_not_newer_than_prev_drops_prev() {
    let store = store_with_history();
    let summary = store.store(
        batch()
            .node("n1", old(0, 0))
            .container("ns", "p", "c", old(0, 0))
            .build(),
    );
    assert_eq!(node_and_container_window(&store), (None, None));
    assert_eq!(
        (summary.node_prevs_dropped, summary.container_prevs_dropped),
        (1, 1)
    );
    assert_eq!((summary.node_points, summary.container_points), (0, 0));
    assert!(!store.snapshot().is_ready());
}

#[test]
fn missed_scrape_erases_history() {
    let store = store_with_history();
    assert_eq!(
        node_and_container_window(&store),
        (Some(15 * S), Some(15 * S))
    );

    // One cycle without the node and the pod (the scrape of their node failed).
    store.store(batch().node("other", old(30, CPU_S)).build());
    assert_eq!(node_and_container_window(&store), (None, None));

    // Back: only one point again, so nothing yet...
    store.store(
        batch()
            .node("n1", old(45, 45 * CPU_S))
            .container("ns", "p", "c", old(45, 45 * CPU_S))
            .build(),
    );
    assert_eq!(node_and_container_window(&store), (None, None));
    // ...until the following scrape.
    store.store(
        batch()
            .node("n1", old(60, 60 * CPU_S))
            .container("ns", "p", "c", old(60, 60 * CPU_S))
            .build(),
    );
    assert_eq!(
        node_and_container_window(&store),
        (Some(15 * S), Some(15 * S))
    );
}

#[test]
fn pod_with_one_container_lacking_history_is_omitted() {
    let store = store();
    store.store(batch().container("ns", "p", "a", old(0, 0)).build());
    // `b` is new (a sidecar added, or a container not reported before).
    let summary = store.store(
        batch()
            .container("ns", "p", "a", old(15, CPU_S))
            .container("ns", "p", "b", old(15, CPU_S))
            .build(),
    );

    let snapshot = store.snapshot();
    assert!(snapshot.pod("ns", "p").is_none());
    assert_eq!(snapshot.pods().count(), 0);
    assert_eq!(
        (
            summary.pods_with_prev,
            summary.servable_pods,
            summary.container_points
        ),
        (1, 0, 1)
    );
    assert!(
        snapshot.pod_ready(),
        "readiness follows stored history, not servability"
    );

    store.store(
        batch()
            .container("ns", "p", "a", old(30, 2 * CPU_S))
            .container("ns", "p", "b", old(30, 2 * CPU_S))
            .build(),
    );
    assert_eq!(
        container_names(&store.snapshot(), "ns", "p").unwrap(),
        ["a", "b"]
    );
}

#[test]
fn pod_time_comes_from_the_container_with_the_earliest_timestamp() {
    let store = store();
    store.store(
        batch()
            .container("ns", "p", "a", old(3, 0))
            .container("ns", "p", "b", old(0, 0))
            .container("ns", "p", "c", old(-5, 0))
            .build(),
    );
    store.store(
        batch()
            .container("ns", "p", "a", old(16, CPU_S)) // window 13 s
            .container("ns", "p", "b", old(15, CPU_S)) // window 15 s, earliest
            .container("ns", "p", "c", old(17, CPU_S)) // window 22 s
            .build(),
    );
    let snapshot = store.snapshot();
    let pod = snapshot.pod("ns", "p").unwrap();
    // Its window, not the smallest (13 s) nor the largest (22 s).
    assert_eq!((pod.timestamp(), pod.window_ns()), (at(15), 15 * S));
}

#[test]
fn pod_time_ignores_containers_whose_usage_failed() {
    let store = store();
    store.store(
        batch()
            .container("ns", "p", "a", old(3, 0))
            .container("ns", "p", "b", old(0, 10 * CPU_S))
            .build(),
    );
    // `b` has the earliest timestamp but its counter went backwards.
    store.store(
        batch()
            .container("ns", "p", "a", old(16, CPU_S))
            .container("ns", "p", "b", old(15, CPU_S))
            .build(),
    );
    let snapshot = store.snapshot();
    let pod = snapshot.pod("ns", "p").unwrap();
    assert_eq!((pod.timestamp(), pod.window_ns()), (at(16), 13 * S));
    assert_eq!(container_names(&snapshot, "ns", "p").unwrap(), ["a"]);
}

#[test]
fn pod_time_on_a_tie_comes_from_the_first_container_by_name() {
    let store = store();
    store.store(
        batch()
            .container("ns", "p", "z", old(0, 0))
            .container("ns", "p", "m", old(5, 0))
            .build(),
    );
    store.store(
        batch()
            .container("ns", "p", "z", old(15, CPU_S))
            .container("ns", "p", "m", old(15, CPU_S))
            .build(),
    );
    let snapshot = store.snapshot();
    let pod = snapshot.pod("ns", "p").unwrap();
    assert_eq!((pod.timestamp(), pod.window_ns()), (at(15), 10 * S));
}

#[test]
fn readiness_follows_node_and_pod_history() {
    let store = store();
    assert!(!store.snapshot().is_ready());
    let both = |ts: i64| {
        batch()
            .node("n1", old(ts, 0))
            .container("ns", "p", "c", old(ts, 0))
    };

    let first = store.store(both(0).build());
    assert_eq!(first.readiness_after, Readiness::default());
    assert!(!first.readiness_changed());

    let second = store.store(both(15).build());
    assert_eq!(second.readiness_before, Readiness::default());
    assert_eq!(
        second.readiness_after,
        Readiness {
            nodes: true,
            pods: true
        }
    );
    assert!(second.readiness_changed() && store.snapshot().is_ready());

    let steady = store.store(both(30).build());
    assert!(!steady.readiness_changed());

    let pods_gone = store.store(batch().node("n1", old(45, 0)).build());
    assert_eq!(
        pods_gone.readiness_after,
        Readiness {
            nodes: true,
            pods: false
        }
    );
    assert!(pods_gone.readiness_changed());
    let snapshot = store.snapshot();
    assert!(snapshot.node_ready() && !snapshot.pod_ready() && !snapshot.is_ready());

    let nodes_gone = store.store(batch().container("ns", "p", "c", old(60, 0)).build());
    assert_eq!(
        nodes_gone.readiness_before,
        Readiness {
            nodes: true,
            pods: false
        }
    );
    assert_eq!(nodes_gone.readiness_after, Readiness::default());
    assert!(
        nodes_gone.readiness_changed(),
        "node readiness changed, though the store stays unready"
    );
}

#[test]
fn every_store_replaces_the_state() {
    let store = store();
    let full = |ts: i64| {
        batch()
            .node("n1", old(ts, 0))
            .node("n2", old(ts, 0))
            .container("ns", "p1", "c", old(ts, 0))
            .container("ns", "p2", "c", old(ts, 0))
    };
    store.store(full(0).build());
    store.store(full(15).build());
    assert_eq!(store.snapshot().nodes().count(), 2);
    assert_eq!(pod_names(&store.snapshot()), ["ns/p1", "ns/p2"]);

    store.store(
        batch()
            .node("n1", old(30, 0))
            .container("ns", "p1", "c", old(30, 0))
            .build(),
    );
    let snapshot = store.snapshot();
    assert_eq!(
        snapshot.nodes().map(|(name, _)| name).collect::<Vec<_>>(),
        ["n1"]
    );
    assert_eq!(pod_names(&snapshot), ["ns/p1"]);
    assert_eq!(snapshot.node("n2"), None);

    let summary = store.store(batch().build());
    let snapshot = store.snapshot();
    assert_eq!(
        summary,
        StoreSummary {
            readiness_before: Readiness {
                nodes: true,
                pods: true
            },
            ..StoreSummary::default()
        }
    );
    assert_eq!((snapshot.nodes().count(), snapshot.pods().count()), (0, 0));
    assert_eq!(
        (snapshot.node_points(), snapshot.container_points()),
        (0, 0)
    );
    assert!(!snapshot.is_ready());
}

#[test]
fn a_snapshot_keeps_showing_its_own_cycle() {
    let store = store_with_history();
    let before = store.snapshot();
    store.store(batch().build());
    assert!(before.node("n1").is_some() && before.pod("ns", "p").is_some());
    assert!(store.snapshot().node("n1").is_none());
}

#[test]
fn point_counts_are_stored_history_not_servability() {
    let store = store();
    store.store(
        batch()
            .node("n1", old(0, 10 * CPU_S))
            .node("n2", old(0, 0))
            .container("ns", "p1", "a", old(0, 0))
            .container("ns", "p1", "b", old(0, 10 * CPU_S))
            .container("ns", "p2", "a", old(0, 0))
            .build(),
    );
    let summary = store.store(
        batch()
            .node("n1", old(15, 0)) // history, but CPU went backwards
            .node("n2", old(15, 0))
            .node("n3", old(15, 0)) // new
            .container("ns", "p1", "a", old(15, 0))
            .container("ns", "p1", "b", old(15, 0)) // history, CPU went backwards
            .container("ns", "p2", "a", old(15, 0))
            .container("ns", "p2", "new", old(15, 0)) // makes p2 unservable
            .container("ns", "p3", "a", sample(4, 15, 0)) // fresh: 11 s old
            .build(),
    );
    let snapshot = store.snapshot();
    assert_eq!((snapshot.node_points(), summary.node_points), (2, 2));
    assert_eq!(
        (snapshot.container_points(), summary.container_points),
        (4, 4)
    );
    assert_eq!(summary.fresh_containers, 1);
    assert_eq!(
        (
            summary.nodes,
            summary.servable_nodes,
            summary.node_usage_errors
        ),
        (3, 1, 1)
    );
    assert_eq!(
        (summary.pods, summary.pods_with_prev, summary.servable_pods),
        (3, 3, 2)
    );
    assert_eq!((summary.containers, summary.container_usage_errors), (5, 1));
    assert_eq!(
        (
            snapshot.servable_node_count(),
            snapshot.servable_pod_count()
        ),
        (1, 2)
    );
    assert_eq!(pod_names(&snapshot), ["ns/p1", "ns/p3"]);
}

/// Upstream stores a zero-valued older sample here (a window of about 292 years with CPU ≈ 0);
/// this store treats the container as having no older sample.
#[test]
fn repeated_sample_of_a_container_without_history_gets_no_zero_prev() {
    let store = store();
    store.store(batch().container("ns", "p", "a", old(0, 0)).build());
    // `b` appears; the pod now has an older sample for `a` only.
    store.store(
        batch()
            .container("ns", "p", "a", old(15, CPU_S))
            .container("ns", "p", "b", old(15, CPU_S))
            .build(),
    );
    // The kubelet repeats its cached sample for both containers.
    let summary = store.store(
        batch()
            .container("ns", "p", "a", old(15, CPU_S))
            .container("ns", "p", "b", old(15, CPU_S))
            .build(),
    );

    assert_eq!(summary.container_points, 1);
    assert_eq!(summary.container_prevs_dropped, 0);
    assert!(store.snapshot().pod("ns", "p").is_none());
}

#[test]
fn containers_are_sorted_by_name_and_a_repeated_name_keeps_its_first_point() {
    let store = store();
    let first = |ts: i64, cpu: u64| {
        batch()
            .container("ns", "p", "zeta", old(ts, cpu))
            .container("ns", "p", "alpha", old(ts, cpu))
            .container("ns", "p", "mid", old(ts, cpu))
    };
    store.store(first(0, 0).build());
    let summary = store.store(
        first(15, 15 * CPU_S)
            .container("ns", "p", "alpha", old(15, 0))
            .build(),
    );

    assert_eq!(summary.duplicate_containers, 1);
    assert_eq!(summary.containers, 3);
    let list = containers(&store.snapshot(), "ns", "p").unwrap();
    let names: Vec<&str> = list.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
    assert!(
        list.iter()
            .all(|(_, usage)| usage.cpu_nanocores == 1_000_000_000)
    );
}

#[test]
fn lists_come_sorted_and_a_namespace_can_be_read_alone() {
    let store = store();
    let all = |ts: i64| {
        let mut b = batch();
        for node in ["n3", "n1", "n2"] {
            b = b.node(node, old(ts, 0));
        }
        for (namespace, pod) in [
            ("kube-system", "dns"),
            ("default", "web"),
            ("kube", "x"),
            ("default", "api"),
            ("z", "a"),
        ] {
            b = b.container(namespace, pod, "c", old(ts, 0));
        }
        b.build()
    };
    store.store(all(0));
    store.store(all(15));
    let snapshot = store.snapshot();

    assert_eq!(
        snapshot.nodes().map(|(name, _)| name).collect::<Vec<_>>(),
        ["n1", "n2", "n3"]
    );
    assert_eq!(
        pod_names(&snapshot),
        [
            "default/api",
            "default/web",
            "kube/x",
            "kube-system/dns",
            "z/a"
        ]
    );
    let names = |namespace: &str| {
        snapshot
            .pods_in_namespace(namespace)
            .map(|pod| pod.name())
            .collect::<Vec<_>>()
    };
    assert_eq!(names("default"), ["api", "web"]);
    assert_eq!(names("kube"), ["x"]);
    assert_eq!(names("kube-system"), ["dns"]);
    assert_eq!(names("z"), ["a"]);
    assert!(names("absent").is_empty() && names("").is_empty() && names("zz").is_empty());
    assert!(snapshot.pod("default", "absent").is_none());
}

#[test]
fn pods_without_containers_are_not_kept() {
    let store = store();
    let summary = store.store(
        batch()
            .empty_pod("ns", "p")
            .container("ns", "q", "c", old(0, 0))
            .build(),
    );
    assert_eq!(
        (summary.pods, summary.empty_pods, summary.containers),
        (1, 1, 1)
    );
    store.store(batch().empty_pod("ns", "p").build());
    assert!(store.snapshot().pod("ns", "p").is_none());
}
