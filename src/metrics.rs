//! Prometheus metrics: what the agent does, counted. Opt-in exposure (the
//! `[metrics]` table; served by `crate::server::metrics`).
//!
//! One place: a new metric is one line in the `metrics!` list below plus
//! one call where the thing happens (`crate::metrics::get().NAME...`).
//!
//! Never a secret, a payload, a PIN or anything from a request's contents
//! in a label: label values come only from config names (identities, key
//! aliases), the agent's own op names, rule codes and error codes, so the
//! number of series stays bounded by the config.
//!
//! The registry is process-wide (one agent per process); the counters are
//! atomics, cheap to bump from the signing path and the journal's writer
//! thread alike.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::LazyLock;

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use serde::Deserialize;

/// `[metrics]`: where the metrics are exposed. Absent (the default):
/// nowhere, and nothing listens.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` of the HTTP endpoint (`GET /metrics`), e.g.
    /// "127.0.0.1:9464". Loopback only unless `allow_remote`.
    pub listen: Option<String>,
    /// Allow a `listen` address that is not loopback. The metrics hold no
    /// secret, but they show what the desk trades and when.
    #[serde(default)]
    pub allow_remote: bool,
    /// A file for node_exporter's textfile collector, rewritten atomically
    /// (temporary file, then rename) every `textfile_interval_s` seconds.
    pub textfile: Option<PathBuf>,
    #[serde(default = "default_textfile_interval")]
    pub textfile_interval_s: u64,
}

fn default_textfile_interval() -> u64 {
    15
}

impl MetricsConfig {
    /// The listen address, checked (the error names `metrics.listen`).
    pub fn listen_addr(&self) -> Result<Option<SocketAddr>, String> {
        let Some(text) = &self.listen else {
            return Ok(None);
        };
        let addr: SocketAddr = text.parse().map_err(|e| {
            format!(
                "metrics.listen: {text:?} is not an address and port such as \"127.0.0.1:9464\" ({e})"
            )
        })?;
        if !addr.ip().is_loopback() && !self.allow_remote {
            return Err(format!(
                "metrics.listen: {addr} is not a loopback address; set metrics.allow_remote = true to serve metrics beyond this host"
            ));
        }
        Ok(Some(addr))
    }

    pub fn validate(&self) -> Result<(), String> {
        self.listen_addr()?;
        if self.textfile.is_some() && !(1..=3600).contains(&self.textfile_interval_s) {
            return Err("metrics.textfile_interval_s must be between 1 and 3600".into());
        }
        if let Some(p) = &self.textfile
            && (p.file_name().is_none() || p.extension().is_none_or(|e| e != "prom"))
        {
            return Err(format!(
                "metrics.textfile: {} must name a file ending in .prom (node_exporter reads only those)",
                p.display()
            ));
        }
        Ok(())
    }

    pub fn enabled(&self) -> bool {
        self.listen.is_some() || self.textfile.is_some()
    }
}

/// Latency buckets in seconds: 100 µs to about 13 s.
fn latency_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.0001, 2.0, 18).expect("valid buckets")
}

/// Group-commit sizes: 1 to 1024 records.
fn batch_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(1.0, 2.0, 11).expect("valid buckets")
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("valid metric")
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid metric")
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn float_gauge_vec(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn histogram(name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid metric")
}

fn histogram_vec(name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric")
}

/// Declares the metrics: each one a field and its registration.
macro_rules! metrics {
    ($($(#[$doc:meta])* $field:ident: $ty:ty = $make:expr;)*) => {
        /// Every metric the agent exports.
        pub struct Metrics {
            registry: Registry,
            $($(#[$doc])* pub $field: $ty,)*
        }

        impl Metrics {
            fn new() -> Metrics {
                let registry = Registry::new();
                $(
                    let $field: $ty = $make;
                    registry
                        .register(Box::new($field.clone()))
                        .expect("metric names are unique");
                )*
                Metrics { registry, $($field,)* }
            }
        }
    };
}

metrics! {
    build_info: IntGaugeVec = gauge_vec("tradeward_build_info",
        "Always 1; the agent's version in the label.", &["version"]);
    start_time: IntGauge = gauge("tradeward_start_time_seconds",
        "When the agent started (Unix time).");
    policy_info: IntGaugeVec = gauge_vec("tradeward_policy_info",
        "Always 1; the SHA-256 of the policy in force (changes on reload).", &["sha256"]);
    /// Every answered request: `op` is one of the agent's ops ("unknown"
    /// otherwise), `outcome` "ok" or the protocol's error code.
    requests: IntCounterVec = counter_vec("tradeward_requests_total",
        "Requests answered, by op and outcome (ok or the error code).", &["op", "outcome"]);
    denials: IntCounterVec = counter_vec("tradeward_denials_total",
        "Refused requests, by identity and rule (policy rule code or error code).",
        &["identity", "rule"]);
    signatures: IntCounterVec = counter_vec("tradeward_signatures_total",
        "Signatures made, by key alias and key type.", &["key", "key_type"]);
    backend_errors: IntCounterVec = counter_vec("tradeward_backend_errors_total",
        "Signing failures after an allowed, durable decision, by kind.", &["kind"]);
    token_sign_seconds: HistogramVec = histogram_vec("tradeward_token_sign_seconds",
        "Time the token (or the signing worker) took to sign, by key type.",
        &["key_type"], latency_buckets());
    durable_wait_seconds: Histogram = histogram("tradeward_journal_durable_wait_seconds",
        "Time an allowed decision waited to be durable in the journal before signing.",
        latency_buckets());
    authorize_seconds: HistogramVec = histogram_vec("tradeward_authorize_seconds",
        "End to end time of a signed request in the signing path (lock to signature), by op.",
        &["op"], latency_buckets());
    journal_group_commit: Histogram = histogram("tradeward_journal_group_commit_records",
        "Records written by one group commit of the journal.", batch_buckets());
    journal_fsync_seconds: Histogram = histogram("tradeward_journal_fsync_seconds",
        "Time one fsync of the journal took.", latency_buckets());
    journal_errors: IntCounter = counter("tradeward_journal_write_errors_total",
        "Journal writes or syncs that failed (nothing is signed until it works again).");
    worker_restarts: IntCounter = counter("tradeward_worker_restarts_total",
        "Signing workers (PKCS#11 processes) that exited and were restarted.");
    heartbeats: IntCounterVec = counter_vec("tradeward_heartbeats_total",
        "Heartbeats accepted, by identity.", &["identity"]);
    deadman_trips: IntCounterVec = counter_vec("tradeward_deadman_trips_total",
        "Dead-man's switch trips, by identity.", &["identity"]);
    breaker_openings: IntCounterVec = counter_vec("tradeward_breaker_openings_total",
        "Circuit breaker openings (by policy denials), by identity.", &["identity"]);
    halts: IntCounterVec = counter_vec("tradeward_halts_total",
        "Operator halts, by scope (all, identity, key) and name (empty for all).",
        &["scope", "name"]);
    connections: IntGaugeVec = gauge_vec("tradeward_connections",
        "Open connections, by identity.", &["identity"]);
    deadman_tripped: IntGaugeVec = gauge_vec("tradeward_deadman_tripped",
        "1 while the identity's dead-man's switch is tripped.", &["identity"]);
    last_heartbeat: IntGaugeVec = gauge_vec("tradeward_last_heartbeat_timestamp_seconds",
        "When the identity's last heartbeat arrived (Unix time; absent before the first).",
        &["identity"]);
    halted: IntGaugeVec = gauge_vec("tradeward_halted",
        "1 while a halt (all, identity or trip) covers the identity.", &["identity"]);
    breaker_open: IntGaugeVec = gauge_vec("tradeward_breaker_open",
        "1 while the identity's circuit breaker is open.", &["identity"]);
    open_orders: IntGaugeVec = gauge_vec("tradeward_open_orders",
        "Orders counted as open (policy's conservative accounting), by key.", &["key"]);
    open_orders_cap: IntGaugeVec = gauge_vec("tradeward_open_orders_cap",
        "The key's max_open_orders (absent when none is configured).", &["key"]);
    open_notional: GaugeVec = float_gauge_vec("tradeward_open_notional",
        "Notional of the orders counted as open, by key (quote units).", &["key"]);
    open_notional_cap: GaugeVec = float_gauge_vec("tradeward_open_notional_cap",
        "The key's max_open_notional (absent when none is configured).", &["key"]);
    notional_day: GaugeVec = float_gauge_vec("tradeward_notional_day",
        "Opening notional authorised within the last 24 h, by key (quote units).", &["key"]);
    notional_day_cap: GaugeVec = float_gauge_vec("tradeward_notional_day_cap",
        "The key's max_notional_per_day (absent when none is configured).", &["key"]);
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let m = Metrics::new();
    m.build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    m
});

/// The agent's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    /// The text exposition format (version 0.0.4), as Prometheus scrapes it
    /// and node_exporter's textfile collector reads it.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }

    /// Record the policy in force (at start and after a reload).
    pub fn set_policy(&self, sha256: &str) {
        self.policy_info.reset();
        self.policy_info.with_label_values(&[sha256]).set(1);
    }
}

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Seconds as a float, for the histograms.
pub fn seconds(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_is_checked() {
        let mut c = MetricsConfig {
            listen: Some("127.0.0.1:9464".into()),
            ..Default::default()
        };
        assert!(c.validate().is_ok());
        c.listen = Some("[::1]:9464".into());
        assert!(c.validate().is_ok());
        c.listen = Some("localhost:9464".into());
        let e = c.validate().unwrap_err();
        assert!(e.starts_with("metrics.listen:"), "{e}");
        c.listen = Some("0.0.0.0:9464".into());
        let e = c.validate().unwrap_err();
        assert!(e.contains("allow_remote"), "{e}");
        c.allow_remote = true;
        assert!(c.validate().is_ok());
    }

    #[test]
    fn textfile_must_end_in_prom() {
        let mut c = MetricsConfig {
            textfile: Some("/var/lib/node_exporter/textfile/tradeward.txt".into()),
            textfile_interval_s: 15,
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().starts_with("metrics.textfile:"));
        c.textfile = Some("/var/lib/node_exporter/textfile/tradeward.prom".into());
        assert!(c.validate().is_ok());
        c.textfile_interval_s = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn exposition_names_what_was_counted() {
        let m = get();
        m.signatures.with_label_values(&["unit-key", "hmac"]).inc();
        m.durable_wait_seconds.observe(0.001);
        m.set_policy("abc");
        m.set_policy("def");
        let text = m.encode();
        assert!(text.contains("tradeward_signatures_total{key=\"unit-key\",key_type=\"hmac\"}"));
        assert!(text.contains("tradeward_build_info{version=\""));
        assert!(text.contains("tradeward_policy_info{sha256=\"def\"} 1"));
        assert!(!text.contains("sha256=\"abc\""));
        assert!(text.contains("tradeward_journal_durable_wait_seconds_bucket"));
    }
}
