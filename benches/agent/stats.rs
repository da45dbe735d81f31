//! Latency histograms and run summaries.
//!
//! Latencies go into a log-linear histogram (128 sub-buckets per power of
//! two, so any reported percentile is within 0.8 % of the true sample), which
//! is cheap to record into from many threads and can be merged across
//! threads and processes.

use serde_json::{Value, json};

const LINEAR: usize = 256;
const SUB: usize = 128;
const BUCKETS: usize = LINEAR + (64 - 8) * SUB;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    pub n: u64,
    pub sum_ns: u128,
    pub min_ns: u64,
    pub max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

fn index(v: u64) -> usize {
    if v < LINEAR as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros() as usize; // >= 8
    let sub = ((v >> (e - 7)) & (SUB as u64 - 1)) as usize;
    LINEAR + (e - 8) * SUB + sub
}

/// A representative value (the middle) of bucket `i`.
fn value(i: usize) -> u64 {
    if i < LINEAR {
        return i as u64;
    }
    let e = (i - LINEAR) / SUB + 8;
    let sub = ((i - LINEAR) % SUB) as u64;
    let width = 1u64 << (e - 7);
    ((SUB as u64 + sub) << (e - 7)) + width / 2
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            n: 0,
            sum_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    pub fn record(&mut self, ns: u64) {
        self.counts[index(ns)] += 1;
        self.n += 1;
        self.sum_ns += ns as u128;
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.n += other.n;
        self.sum_ns += other.sum_ns;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// The latency at quantile `q` (0 < q <= 1), in nanoseconds.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return value(i).clamp(self.min_ns, self.max_ns);
            }
        }
        self.max_ns
    }

    pub fn mean_ns(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum_ns as f64 / self.n as f64
        }
    }

    /// Sparse form, for passing between processes.
    pub fn to_json(&self) -> Value {
        let pairs: Vec<Value> = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| json!([i, c]))
            .collect();
        json!({
            "n": self.n,
            "sum_ns": self.sum_ns.to_string(),
            "min_ns": self.min_ns,
            "max_ns": self.max_ns,
            "buckets": pairs,
        })
    }

    pub fn from_json(v: &Value) -> Option<Histogram> {
        let mut h = Histogram::new();
        h.n = v.get("n")?.as_u64()?;
        h.sum_ns = v.get("sum_ns")?.as_str()?.parse().ok()?;
        h.min_ns = v.get("min_ns")?.as_u64()?;
        h.max_ns = v.get("max_ns")?.as_u64()?;
        for p in v.get("buckets")?.as_array()? {
            let i = p.get(0)?.as_u64()? as usize;
            let c = p.get(1)?.as_u64()?;
            *h.counts.get_mut(i)? += c;
        }
        Some(h)
    }
}

/// CPU time used during a measurement window, per process group, in
/// seconds.
#[derive(Clone, Debug, Default)]
pub struct CpuUse {
    pub agent_s: f64,
    pub workers_s: f64,
    pub client_s: f64,
    /// Busy time of the whole machine (all cores), and the part of it no
    /// measured process accounts for: other load on the machine.
    pub machine_s: f64,
    pub other_s: f64,
    pub steal_s: f64,
}

/// The outcome of one closed-loop run.
#[derive(Clone)]
pub struct RunResult {
    pub clients: usize,
    pub secs: f64,
    pub hist: Histogram,
    pub errors: u64,
    pub first_error: Option<String>,
    pub cpu: Option<CpuUse>,
}

impl RunResult {
    pub fn throughput(&self) -> f64 {
        if self.secs <= 0.0 {
            0.0
        } else {
            self.hist.n as f64 / self.secs
        }
    }

    pub fn p_us(&self, q: f64) -> f64 {
        self.hist.quantile(q) as f64 / 1000.0
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "clients": self.clients,
            "secs": self.secs,
            "ops": self.hist.n,
            "throughput": self.throughput(),
            "p50_us": self.p_us(0.50),
            "p99_us": self.p_us(0.99),
            "p999_us": self.p_us(0.999),
            "mean_us": self.hist.mean_ns() / 1000.0,
            "min_us": if self.hist.n > 0 { self.hist.min_ns as f64 / 1000.0 } else { 0.0 },
            "max_us": self.hist.max_ns as f64 / 1000.0,
            "errors": self.errors,
            "first_error": self.first_error,
        });
        if let Some(c) = &self.cpu {
            let per = |s: f64| {
                if self.hist.n > 0 {
                    s * 1e6 / self.hist.n as f64
                } else {
                    0.0
                }
            };
            v["cpu"] = json!({
                "agent_pct": 100.0 * c.agent_s / self.secs,
                "workers_pct": 100.0 * c.workers_s / self.secs,
                "client_pct": 100.0 * c.client_s / self.secs,
                "agent_us_per_op": per(c.agent_s),
                "workers_us_per_op": per(c.workers_s),
                "client_us_per_op": per(c.client_s),
                "machine_pct": 100.0 * c.machine_s / self.secs,
                "other_pct": 100.0 * c.other_s / self.secs,
                "steal_pct": 100.0 * c.steal_s / self.secs,
            });
        }
        v
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}
