//! Serialising metrics lists, the hot path of `GET .../pods` on a large cluster.
//!
//! Run with `cargo bench -p metrics-types --bench serialize`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use apimachinery::gojson;
use apimachinery::negotiate::TableVersion;
use apimachinery::quantity::{write_cpu, write_memory};
use divan::{Bencher, black_box};
use metrics_types::metrics::{
    ApiVersion, ContainerMetrics, ListStream, ObjectMeta, PodMetrics, Usage,
};
use metrics_types::table::{IncludeObject, Table, TableOptions};

fn main() {
    // The sizes the benchmarks produce, for comparing encodings by bytes as well as time.
    let pods = cluster(30_000);
    let mut json = Vec::new();
    let list = ListStream::pods(ApiVersion::V1beta1, pods.iter().map(pod_metrics));
    gojson::to_writer(&mut json, &list).expect("serialising into a Vec cannot fail");
    let protobuf = metrics_types::protobuf::encode_list::<PodMetrics<'_>, _>(
        ApiVersion::V1beta1,
        pods.iter().map(pod_metrics),
    );
    eprintln!(
        "PodMetricsList of 30,000 pods: JSON {} bytes, protobuf {} bytes",
        json.len() + 1,
        protobuf.len()
    );
    divan::main();
}

/// What the server's caches hold for one pod: owned names and shared labels.
struct CachedPod {
    namespace: String,
    name: String,
    labels: Arc<BTreeMap<String, String>>,
    containers: [(String, Usage); 2],
}

/// 30,000 pods in 100 namespaces with 2 containers each, the largest upstream scenario.
fn cluster(pods: usize) -> Vec<CachedPod> {
    let labels = Arc::new(BTreeMap::from([
        ("app".to_owned(), "web".to_owned()),
        ("pod-template-hash".to_owned(), "6d4cf56db6".to_owned()),
    ]));
    (0..pods)
        .map(|i| CachedPod {
            namespace: format!("namespace-{:03}", i % 100),
            name: format!("deployment-{:04}-6d4cf56db6-{i:05}", i / 300),
            labels: Arc::clone(&labels),
            containers: [
                (
                    "app".to_owned(),
                    Usage {
                        cpu_nanocores: 200_807_775 + i as u64,
                        memory_bytes: 41_340_928 + (i as u64) * 4096,
                        swap_bytes: None,
                    },
                ),
                (
                    "sidecar".to_owned(),
                    Usage {
                        cpu_nanocores: 10_002_836,
                        memory_bytes: 19_189_760,
                        swap_bytes: None,
                    },
                ),
            ],
        })
        .collect()
}

fn pod_metrics(pod: &CachedPod) -> PodMetrics<'_> {
    PodMetrics {
        api_version: ApiVersion::V1beta1,
        metadata: ObjectMeta {
            name: Cow::Borrowed(&pod.name),
            namespace: Some(Cow::Borrowed(&pod.namespace)),
            creation_timestamp: Some(1_749_556_818_000_000_000),
            labels: Cow::Borrowed(&pod.labels),
        },
        timestamp: Some(1_749_556_807_121_000_000),
        window_nanos: 15_013_000_000,
        containers: pod
            .containers
            .iter()
            .map(|(name, usage)| ContainerMetrics {
                name: Cow::Borrowed(name),
                usage: *usage,
            })
            .collect(),
    }
}

#[divan::bench(args = [1_000, 30_000])]
fn pod_list_json(bencher: Bencher, pods: usize) {
    let cluster = cluster(pods);
    bencher.bench_local(|| {
        let mut out = Vec::with_capacity(pods * 400);
        let list = ListStream::pods(ApiVersion::V1beta1, cluster.iter().map(pod_metrics));
        gojson::to_writer(&mut out, &list).expect("serialising into a Vec cannot fail");
        out.push(b'\n');
        black_box(out)
    });
}

/// The same list as Kubernetes protobuf (what the HPA controller and `kubectl top` ask for).
#[divan::bench(args = [1_000, 30_000])]
fn pod_list_protobuf(bencher: Bencher, pods: usize) {
    let cluster = cluster(pods);
    bencher.bench_local(|| {
        black_box(metrics_types::protobuf::encode_list::<PodMetrics<'_>, _>(
            ApiVersion::V1beta1,
            cluster.iter().map(pod_metrics),
        ))
    });
}

#[divan::bench(args = [30_000])]
fn pod_table_json(bencher: Bencher, pods: usize) {
    let cluster = cluster(pods);
    let options = TableOptions {
        version: TableVersion::V1,
        include_object: IncludeObject::Metadata,
        no_headers: false,
    };
    bencher.bench_local(|| {
        let mut out = Vec::with_capacity(pods * 400);
        let table = Table::pods(cluster.iter().map(pod_metrics), options);
        gojson::to_writer(&mut out, &table).expect("serialising into a Vec cannot fail");
        black_box(out)
    });
}

#[divan::bench]
fn quantities_10k(bencher: Bencher) {
    let values: Vec<u64> = (0..10_000u64).map(|i| i * 1_234_567 + 4096).collect();
    bencher.bench_local(|| {
        let mut out = String::with_capacity(16);
        for &value in &values {
            out.clear();
            write_cpu(&mut out, value).expect("writing into a String cannot fail");
            write_memory(&mut out, value).expect("writing into a String cannot fail");
            black_box(&out);
        }
    });
}
