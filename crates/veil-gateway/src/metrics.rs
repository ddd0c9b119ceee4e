//! Prometheus counters, rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram, seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// The gateway's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    /// Count one answered request on `route` with outcome `code` (`ok` or a problem code).
    pub fn observe(&self, route: &str, code: &str, took: Duration) {
        *lock(&self.requests).entry((route.to_owned(), code.to_owned())).or_default() += 1;
        let mut lat = lock(&self.latency);
        let h = lat.entry(route.to_owned()).or_default();
        let s = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += s;
        h.count += 1;
    }

    /// The exposition text, with the given gauges appended.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP veil_gateway_requests_total Requests answered, by route and outcome.\n");
        out.push_str("# TYPE veil_gateway_requests_total counter\n");
        for ((route, code), n) in lock(&self.requests).iter() {
            let _ = writeln!(out, "veil_gateway_requests_total{{route=\"{route}\",outcome=\"{code}\"}} {n}");
        }
        out.push_str("# HELP veil_gateway_request_seconds Request latency, by route.\n");
        out.push_str("# TYPE veil_gateway_request_seconds histogram\n");
        for (route, h) in lock(&self.latency).iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "veil_gateway_request_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "veil_gateway_request_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "veil_gateway_request_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(out, "veil_gateway_request_seconds_count{{route=\"{route}\"}} {}", h.count);
        }
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets_are_cumulative() {
        let m = Metrics::default();
        m.observe("/v1/infer", "ok", Duration::from_millis(3));
        m.observe("/v1/infer", "inference.not_authorized", Duration::from_millis(30));
        let text = m.render(&[("veil_gateway_queue_length", "Jobs waiting.", 2.0)]);
        assert!(text.contains("veil_gateway_requests_total{route=\"/v1/infer\",outcome=\"ok\"} 1"), "{text}");
        assert!(text.contains("le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("le=\"0.05\"} 2"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2"), "{text}");
        assert!(text.contains("veil_gateway_queue_length 2"), "{text}");
    }
}
