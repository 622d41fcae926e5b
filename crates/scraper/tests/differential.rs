//! Property tests: the hand decoder and the prometheus-parse decoder give identical results on
//! generated kubelet bodies (valid and slightly broken), and no decoder panics on any bytes.

#![allow(clippy::unwrap_used)] // a test crate: a failed unwrap is a failed test

use kubelet_scraper::decode::{
    KubeletMetrics, ResourceDecodeError, ResourceErrorKind, decode_resource,
    decode_resource_with_prometheus_parse, decode_summary,
};
use metric_store::Timestamp;
use proptest::prelude::*;

const SCRAPE_START: Timestamp = Timestamp(1_749_556_815_000_000_000);

/// Formats a float as Go's `strconv.FormatFloat(v, 'g', -1, 64)` does for the kubelet: the
/// shortest digits, exponent form from 1e6 on or below 1e-4, with a signed two-digit exponent.
fn go_float(v: f64) -> String {
    let abs = v.abs();
    if v == 0.0 || (1e-4..1e6).contains(&abs) {
        return format!("{v}");
    }
    let sci = format!("{v:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap();
    let exponent: i32 = exponent.parse().unwrap();
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[derive(Clone, Debug)]
struct Style {
    crlf: bool,
    separator: &'static str,
    help: bool,
    exponent_form: bool,
    trailing_blanks: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (
        any::<bool>(),
        prop::sample::select(vec![" ", "\t", "  ", " \t "]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(crlf, separator, help, exponent_form, trailing_blanks)| Style {
                crlf,
                separator,
                help,
                exponent_form,
                trailing_blanks,
            },
        )
}

#[derive(Clone, Debug)]
struct Sample {
    value: f64,
    timestamp_ms: Option<i64>,
}

fn sample() -> impl Strategy<Value = Sample> {
    let value = prop_oneof![
        3 => Just(0.0),
        5 => 0.0..1e6f64,
        3 => 1e6..1e13f64,
        2 => (0u64..1u64 << 40).prop_map(|v| v as f64),
    ];
    let timestamp =
        prop_oneof![1 => Just(None), 4 => (1_700_000_000_000i64..1_800_000_000_000).prop_map(Some)];
    (value, timestamp).prop_map(|(value, timestamp_ms)| Sample {
        value,
        timestamp_ms,
    })
}

#[derive(Clone, Debug)]
struct Container {
    namespace: String,
    pod: String,
    name: String,
    cpu: Option<Sample>,
    memory: Option<Sample>,
    start: Option<f64>,
    swap: Option<Sample>,
}

fn dns_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,14}"
}

fn container() -> impl Strategy<Value = Container> {
    (
        prop::sample::select(vec!["default", "kube-system", "monitoring"]),
        prop::sample::select(vec!["web-1", "web-2", "redis-0", "coredns-x7k2p"]),
        dns_name(),
        prop::option::weighted(0.9, sample()),
        prop::option::weighted(0.9, sample()),
        prop::option::of(1.6e9..1.8e9f64),
        prop::option::of(sample()),
    )
        .prop_map(
            |(namespace, pod, name, cpu, memory, start, swap)| Container {
                namespace: namespace.into(),
                pod: pod.into(),
                name,
                cpu,
                memory,
                start,
                swap,
            },
        )
}

#[derive(Clone, Debug)]
struct Body {
    style: Style,
    node_cpu: Option<Sample>,
    node_memory: Option<Sample>,
    node_swap: Option<Sample>,
    containers: Vec<Container>,
    pod_lines: bool,
    scrape_error: Option<u8>,
}

fn kubelet_body() -> impl Strategy<Value = Body> {
    (
        style(),
        prop::option::weighted(0.9, sample()),
        prop::option::weighted(0.9, sample()),
        prop::option::of(sample()),
        prop::collection::vec(container(), 0..12),
        any::<bool>(),
        prop::option::weighted(0.2, 0u8..2),
    )
        .prop_map(
            |(style, node_cpu, node_memory, node_swap, mut containers, pod_lines, scrape_error)| {
                // One series per (namespace, pod, container), as the kubelet writes.
                let mut seen = std::collections::HashSet::new();
                containers
                    .retain(|c| seen.insert((c.namespace.clone(), c.pod.clone(), c.name.clone())));
                Body {
                    style,
                    node_cpu,
                    node_memory,
                    node_swap,
                    containers,
                    pod_lines,
                    scrape_error,
                }
            },
        )
}

impl Body {
    fn render(&self) -> String {
        let s = &self.style;
        let mut lines: Vec<String> = Vec::new();
        let value = |v: f64| {
            if s.exponent_form {
                go_float(v)
            } else {
                format!("{v}")
            }
        };
        let sample = |name: &str, labels: &str, sample: &Sample| {
            let mut line = format!("{name}{labels}{}{}", s.separator, value(sample.value));
            if let Some(ts) = sample.timestamp_ms {
                line.push_str(s.separator);
                line.push_str(&ts.to_string());
            }
            line
        };
        let family = |lines: &mut Vec<String>, name: &str, kind: &str| {
            if s.help {
                lines.push(format!("# HELP {name} [STABLE] help text for {name}"));
                lines.push(format!("# TYPE {name} {kind}"));
            }
        };
        let labels = |c: &Container| {
            format!(
                r#"{{container="{}",namespace="{}",pod="{}"}}"#,
                c.name, c.namespace, c.pod
            )
        };

        family(&mut lines, "container_cpu_usage_seconds_total", "counter");
        lines.extend(self.containers.iter().filter_map(|c| {
            c.cpu
                .as_ref()
                .map(|x| sample("container_cpu_usage_seconds_total", &labels(c), x))
        }));
        family(&mut lines, "container_memory_working_set_bytes", "gauge");
        lines.extend(self.containers.iter().filter_map(|c| {
            c.memory
                .as_ref()
                .map(|x| sample("container_memory_working_set_bytes", &labels(c), x))
        }));
        family(&mut lines, "container_start_time_seconds", "gauge");
        lines.extend(self.containers.iter().filter_map(|c| {
            c.start.map(|v| {
                sample(
                    "container_start_time_seconds",
                    &labels(c),
                    &Sample {
                        value: v,
                        timestamp_ms: None,
                    },
                )
            })
        }));
        family(&mut lines, "container_swap_usage_bytes", "gauge");
        lines.extend(self.containers.iter().filter_map(|c| {
            c.swap
                .as_ref()
                .map(|x| sample("container_swap_usage_bytes", &labels(c), x))
        }));
        for (name, point) in [
            ("node_cpu_usage_seconds_total", &self.node_cpu),
            ("node_memory_working_set_bytes", &self.node_memory),
            ("node_swap_usage_bytes", &self.node_swap),
        ] {
            family(&mut lines, name, "gauge");
            lines.extend(point.iter().map(|x| sample(name, "", x)));
        }
        if self.pod_lines {
            family(&mut lines, "pod_cpu_usage_seconds_total", "counter");
            for c in &self.containers {
                let labels = format!(r#"{{namespace="{}",pod="{}"}}"#, c.namespace, c.pod);
                lines.push(sample(
                    "pod_cpu_usage_seconds_total",
                    &labels,
                    &Sample {
                        value: 1.5,
                        timestamp_ms: Some(1),
                    },
                ));
            }
        }
        if let Some(flag) = self.scrape_error {
            family(&mut lines, "resource_scrape_error", "gauge");
            lines.push(format!("resource_scrape_error {flag}"));
        }
        let end = match (s.trailing_blanks, s.crlf) {
            (true, true) => " \t\r\n",
            (true, false) => "  \n",
            (false, true) => "\r\n",
            (false, false) => "\n",
        };
        lines.iter().map(|l| format!("{l}{end}")).collect()
    }
}

/// A line-level mutation that usually makes a body invalid.
#[derive(Clone, Debug)]
enum Mutation {
    ReplaceValue(usize, &'static str),
    DuplicateLine(usize),
    DropLabel(usize, &'static str),
    InsertGarbage(usize, &'static str),
    NegativeTimestamp(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (
            any::<usize>(),
            prop::sample::select(vec!["NaN", "+Inf", "-Inf", "-3", "abc", "1,5"])
        )
            .prop_map(|(i, v)| Mutation::ReplaceValue(i, v)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (
            any::<usize>(),
            prop::sample::select(vec!["container", "namespace", "pod"])
        )
            .prop_map(|(i, l)| Mutation::DropLabel(i, l)),
        (
            any::<usize>(),
            prop::sample::select(vec!["garbage", "x y z w", "{}", "metric 1 2 3"])
        )
            .prop_map(|(i, g)| Mutation::InsertGarbage(i, g)),
        any::<usize>().prop_map(Mutation::NegativeTimestamp),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        return text.to_owned();
    }
    let count = lines.len();
    let pick = |i: usize| i % count;
    match *mutation {
        Mutation::ReplaceValue(i, v) => {
            let line = &mut lines[pick(i)];
            if !line.starts_with('#') {
                let (head, tail) = line.rsplit_once('}').unwrap_or(("", line));
                let mut fields: Vec<&str> = tail.split_whitespace().collect();
                let name = if head.is_empty() {
                    fields.remove(0).to_owned()
                } else {
                    format!("{head}}}")
                };
                if !fields.is_empty() {
                    fields[0] = v;
                }
                *line = format!("{name} {}", fields.join(" "));
            }
        }
        Mutation::DuplicateLine(i) => {
            let i = pick(i);
            let copy = lines[i].clone();
            lines.insert(i, copy);
        }
        Mutation::DropLabel(i, label) => {
            let line = &mut lines[pick(i)];
            if let Some(start) = line.find(&format!("{label}=\"")) {
                let value_start = start + label.len() + 2;
                if let Some(close) = line[value_start..].find('"') {
                    let mut end = value_start + close + 1;
                    let mut start = start;
                    if line[end..].starts_with(',') {
                        end += 1;
                    } else if line[..start].ends_with(',') {
                        start -= 1;
                    }
                    line.replace_range(start..end, "");
                }
            }
        }
        Mutation::InsertGarbage(i, garbage) => lines.insert(pick(i), garbage.to_owned()),
        Mutation::NegativeTimestamp(i) => {
            let line = &mut lines[pick(i)];
            if !line.starts_with('#') {
                line.push_str(" -1");
            }
        }
    }
    lines.join("\n")
}

/// Results must match exactly, except that two syntax errors may be worded differently.
fn same(
    hand: &Result<KubeletMetrics, ResourceDecodeError>,
    oracle: &Result<KubeletMetrics, ResourceDecodeError>,
) -> bool {
    match (hand, oracle) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => {
            a.line == b.line
                && match (&a.kind, &b.kind) {
                    (ResourceErrorKind::Syntax(_), ResourceErrorKind::Syntax(_)) => true,
                    (x, y) => x == y,
                }
        }
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn decoders_agree_on_generated_kubelet_bodies(body in kubelet_body()) {
        let text = body.render();
        let hand = decode_resource(text.as_bytes(), SCRAPE_START);
        let oracle = decode_resource_with_prometheus_parse(text.as_bytes(), SCRAPE_START);
        prop_assert!(same(&hand, &oracle), "body:\n{text}\nhand: {hand:?}\noracle: {oracle:?}");
        // Bodies built from valid series only fail when the kubelet flags its own error.
        if body.scrape_error != Some(1) {
            let result = hand.unwrap();
            prop_assert_eq!(result.node.is_some(), body.node_cpu.as_ref().zip(body.node_memory.as_ref()).is_some_and(|(c, m)| {
                (c.value * 1e9) as u64 != 0 && m.value as u64 != 0
            }));
        } else {
            prop_assert!(hand.is_err());
        }
    }

    #[test]
    fn decoders_agree_on_mutated_bodies(body in kubelet_body(), mutation in mutation()) {
        let text = apply(&body.render(), &mutation);
        let hand = decode_resource(text.as_bytes(), SCRAPE_START);
        let oracle = decode_resource_with_prometheus_parse(text.as_bytes(), SCRAPE_START);
        prop_assert!(same(&hand, &oracle), "{mutation:?} body:\n{text}\nhand: {hand:?}\noracle: {oracle:?}");
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode_resource(&bytes, SCRAPE_START);
        let _ = decode_resource_with_prometheus_parse(&bytes, SCRAPE_START);
        let _ = decode_summary(&bytes);
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(vec![
        "container_cpu_usage_seconds_total", "node_memory_working_set_bytes", "resource_scrape_error", "{", "}", "\"", "\\",
        "=", ",", " ", "\t", "\n", "\r\n", "#", "container", "pod", "namespace", "1", "-1", "NaN", "1e308", "9223372036854775807",
        "-9223372036854775808", "é", "\u{0}", "{\"node\":", "[", "]", ":", "null", "\"2025-06-10T12:00:07Z\"",
    ]), 0..80)) {
        let text: String = tokens.concat();
        let _ = decode_resource(text.as_bytes(), SCRAPE_START);
        let _ = decode_resource_with_prometheus_parse(text.as_bytes(), SCRAPE_START);
        let _ = decode_summary(text.as_bytes());
    }
}

#[test]
fn go_float_formatting_matches_the_kubelet_forms() {
    assert_eq!(go_float(3_328_466_944.0), "3.328466944e+09");
    assert_eq!(go_float(172_954.312_845_103), "172954.312845103");
    assert_eq!(go_float(1.5e21), "1.5e+21");
    assert_eq!(go_float(1.5e-7), "1.5e-07");
}
