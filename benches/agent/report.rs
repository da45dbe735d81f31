//! Targets (pass/fail from one run's numbers) and the Markdown results
//! block.

use std::fmt::Write as _;

use serde_json::{Value, json};

const MIB: f64 = 1024.0;

fn run_at(runs: &Value, clients: u64) -> Option<&Value> {
    runs.as_array()?
        .iter()
        .find(|r| r["clients"].as_u64() == Some(clients))
}

fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn target(name: &str, required: &str, measured: Option<(String, bool)>) -> Value {
    match measured {
        Some((m, pass)) => json!({
            "name": name,
            "required": required,
            "measured": m,
            "verdict": if pass { "PASS" } else { "FAIL" },
        }),
        None => json!({
            "name": name,
            "required": required,
            "measured": "not measured",
            "verdict": "not measured",
        }),
    }
}

/// Evaluate every target against this run's results.
pub fn targets(r: &Value) -> Value {
    let mut out = Vec::new();
    let cs_p256_one = &r["csign"]["p256"]["one"];
    let cs_k1_one = &r["csign"]["secp256k1"]["one"];
    let cs_k1_procs = &r["csign"]["secp256k1"]["procs"];
    let sign8 = run_at(&r["sign"]["p256"], 8);
    let sign1 = run_at(&r["sign"]["p256"], 1);
    let hl16 = run_at(&r["hyperliquid"], 16);
    let hl1 = run_at(&r["hyperliquid"], 1);
    let ssh_best = r["ssh"]["runs"].as_array().and_then(|a| {
        a.iter()
            .filter_map(|x| x["throughput"].as_f64())
            .reduce(f64::max)
    });

    out.push(target(
        "sign P-256 at 8 clients >= 1.5x in-process one-thread C_Sign",
        ">= 1.50x",
        (|| {
            let a = f(&sign8?["throughput"])?;
            let b = f(&cs_p256_one["throughput"])?;
            let x = a / b;
            Some((format!("{a:.0}/s vs {b:.0}/s = {x:.2}x"), x >= 1.5))
        })(),
    ));
    out.push(target(
        "sign P-256 at 8 clients >= 10x ssh-agent (its best of 1-8 connections)",
        ">= 10x",
        (|| {
            let a = f(&sign8?["throughput"])?;
            let b = ssh_best?;
            let x = a / b;
            Some((format!("{a:.0}/s vs {b:.0}/s = {x:.2}x"), x >= 10.0))
        })(),
    ));
    out.push(target(
        "sign P-256 at 1 client: p50 <= raw C_Sign p50 + 30 us",
        "overhead <= 30 us",
        (|| {
            let a = f(&sign1?["p50_us"])?;
            let b = f(&cs_p256_one["p50_us"])?;
            Some((
                format!("{a:.1} us vs {b:.1} us: overhead {:.1} us", a - b),
                a - b <= 30.0,
            ))
        })(),
    ));
    out.push(target(
        "hyperliquid.sign_l1_action at 16 clients >= 0.8x secp256k1 multi-process C_Sign",
        ">= 0.80x",
        (|| {
            let a = f(&hl16?["throughput"])?;
            let b = f(&cs_k1_procs["throughput"])?;
            let x = a / b;
            Some((format!("{a:.0}/s vs {b:.0}/s = {x:.2}x"), x >= 0.8))
        })(),
    ));
    out.push(target(
        "hyperliquid.sign_l1_action at 1 client: p50 <= raw secp256k1 C_Sign p50 + 250 us",
        "overhead <= 250 us",
        (|| {
            let a = f(&hl1?["p50_us"])?;
            let b = f(&cs_k1_one["p50_us"])?;
            Some((
                format!("{a:.1} us vs {b:.1} us: overhead {:.1} us", a - b),
                a - b <= 250.0,
            ))
        })(),
    ));
    out.push(target(
        "hyperliquid.sign_l1_action at 16 clients: p99 <= 2 x (16 / throughput)",
        "p99 <= 2 x mean",
        (|| {
            let hl = hl16?;
            let p99 = f(&hl["p99_us"])?;
            let thr = f(&hl["throughput"])?;
            let bound = 2.0 * 16.0 / thr * 1e6;
            Some((
                format!("p99 {p99:.0} us, bound {bound:.0} us"),
                p99 <= bound,
            ))
        })(),
    ));
    out.push(target(
        "memory, agent + workers, idle <= 48 MiB (sum of VmHWM)",
        "<= 48 MiB",
        (|| {
            let k = f(&r["memory"]["idle"]["hwm_kib"])?;
            Some((format!("{:.1} MiB", k / MIB), k / MIB <= 48.0))
        })(),
    ));
    out.push(target(
        "memory, agent + workers, 1,000 idle connections <= 128 MiB (sum of VmHWM)",
        "<= 128 MiB",
        (|| {
            let k = f(&r["memory"]["with_connections"]["hwm_kib"])?;
            Some((format!("{:.1} MiB", k / MIB), k / MIB <= 128.0))
        })(),
    ));
    out.push(target(
        "journal replay of 1M records at start <= 2 s",
        "<= 2 s",
        (|| {
            let j = &r["journal"];
            let n = j["generated"]["records"].as_f64()?;
            let secs = f(&j["agent_replay_secs"])?;
            let scaled = secs * 1e6 / n;
            let note = if (n - 1e6).abs() > 1.0 {
                format!(" (extrapolated from {n:.0} records: {secs:.2} s)")
            } else {
                String::new()
            };
            Some((format!("{scaled:.2} s{note}"), scaled <= 2.0))
        })(),
    ));
    Value::Array(out)
}

fn us(v: &Value) -> String {
    v.as_f64()
        .map(|x| {
            if x >= 10_000.0 {
                format!("{:.1} ms", x / 1000.0)
            } else if x >= 100.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.1}")
            }
        })
        .unwrap_or_else(|| "-".into())
}

fn us3(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{x:.2}"))
        .unwrap_or_else(|| "-".into())
}

fn rate(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{x:.0}"))
        .unwrap_or_else(|| "-".into())
}

fn ratio(a: &Value, b: &Value) -> String {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{x:.0}%"))
        .unwrap_or_else(|| "-".into())
}

fn mib(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{:.1}", x / MIB))
        .unwrap_or_else(|| "-".into())
}

fn errors(run: &Value) -> String {
    let n = run["errors"].as_u64().unwrap_or(0);
    if n == 0 {
        "0".into()
    } else {
        format!(
            "{n} ({})",
            run["first_error"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(80)
                .collect::<String>()
                .replace('|', "/")
        )
    }
}

fn secs_pair(r: &Value, name: &str) -> String {
    let w = &r["windows"][name];
    format!(
        "{} s warm-up + {} s measured",
        w[0].as_f64().unwrap_or(0.0),
        w[1].as_f64().unwrap_or(0.0)
    )
}

/// The results block for docs/benchmarks.md.
pub fn markdown(r: &Value) -> String {
    let mut s = String::new();
    let cores = r["cores"].as_u64().unwrap_or(0);
    let _ = writeln!(s, "### Targets\n");
    let _ = writeln!(
        s,
        "All ratios are between numbers from this one run.\n\n| Target | Measured | Required | Result |\n| --- | --- | --- | --- |"
    );
    for t in r["targets"].as_array().into_iter().flatten() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | **{}** |",
            t["name"].as_str().unwrap_or(""),
            t["measured"].as_str().unwrap_or(""),
            t["required"].as_str().unwrap_or(""),
            t["verdict"].as_str().unwrap_or("")
        );
    }

    // (a)
    if r["csign"].is_object() {
        let _ = writeln!(
            s,
            "\n### (a) The ceiling: C_Sign in-process\n\nThrough `tradeward::backend::pkcs11::Token::sign_raw`, no agent; one session per thread. {}. Latency is per C_Sign call, in microseconds.\n",
            secs_pair(r, "csign")
        );
        let _ = writeln!(
            s,
            "| Key type (mechanism) | 1 process: ops/s | p50 | p99 | {cores} processes: ops/s | p50 | p99 | scaling | 1 process, {cores} threads: ops/s | other CPU (1 / {cores} proc.) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for (kt, mech) in [
            ("p256", "P-256, CKM_ECDSA over a 32-byte digest"),
            ("secp256k1", "secp256k1, CKM_ECDSA over a 32-byte digest"),
            ("ed25519", "Ed25519, CKM_EDDSA over 32 bytes"),
            ("hmac", "HMAC-SHA256, CKM_SHA256_HMAC over 32 bytes"),
        ] {
            let m = &r["csign"][kt];
            let _ = writeln!(
                s,
                "| {mech} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |",
                rate(&m["one"]["throughput"]),
                us(&m["one"]["p50_us"]),
                us(&m["one"]["p99_us"]),
                rate(&m["procs"]["throughput"]),
                us(&m["procs"]["p50_us"]),
                us(&m["procs"]["p99_us"]),
                ratio(&m["procs"]["throughput"], &m["one"]["throughput"]),
                rate(&m["threads"]["throughput"]),
                pct(&m["one"]["cpu"]["other_pct"]),
                pct(&m["procs"]["cpu"]["other_pct"]),
            );
        }
    }

    // (b)
    if r["sign"].is_object() {
        let _ = writeln!(
            s,
            "\n### (b) The agent's `sign` over the Unix socket\n\nClosed loop: each client is a thread with its own connection, one request in flight. P-256: {}; other key types: {}. Latency in microseconds, as the client sees it. \"vs C_Sign\" divides by the same key type's one-thread in-process rate. CPU columns: CPU time of the agent process and of its worker processes per request; the load generator's share of the machine (it runs on the same cores); and \"other\": busy CPU on the machine that none of these processes account for. That is foreign load, or kernel threads working for the measured processes: with the journal on ext4 it is mostly the file system's own journal commits behind each fdatasync (it drops to 0% with the journal on tmpfs, see the diagnostic below).\n",
            secs_pair(r, "sign_p256"),
            secs_pair(r, "sign_other")
        );
        for (kt, title) in [
            ("p256", "P-256 (digest)"),
            ("secp256k1", "secp256k1 (digest)"),
            ("ed25519", "Ed25519 (32-byte message)"),
            ("hmac", "HMAC-SHA256 (32-byte message)"),
        ] {
            let Some(runs) = r["sign"][kt].as_array() else {
                continue;
            };
            let base = &r["csign"][kt]["one"]["throughput"];
            let _ = writeln!(
                s,
                "**{title}**\n\n| Clients | ops/s | vs C_Sign | p50 | p99 | p99.9 | agent CPU us/op | workers CPU us/op | client CPU | other CPU | errors |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
            );
            for x in runs {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    x["clients"],
                    rate(&x["throughput"]),
                    ratio(&x["throughput"], base),
                    us(&x["p50_us"]),
                    us(&x["p99_us"]),
                    us(&x["p999_us"]),
                    us(&x["cpu"]["agent_us_per_op"]),
                    us(&x["cpu"]["workers_us_per_op"]),
                    pct(&x["cpu"]["client_pct"]),
                    pct(&x["cpu"]["other_pct"]),
                    errors(x)
                );
            }
            let _ = writeln!(s);
        }
        if let Some(pings) = r["ping"].as_array() {
            let _ = writeln!(
                s,
                "**`ping`** (socket, framing and dispatch only; no journal, no token)\n\n| Clients | ops/s | p50 | p99 | p99.9 | agent CPU us/op |\n| ---: | ---: | ---: | ---: | ---: | ---: |"
            );
            for x in pings {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} |",
                    x["clients"],
                    rate(&x["throughput"]),
                    us(&x["p50_us"]),
                    us(&x["p99_us"]),
                    us(&x["p999_us"]),
                    us(&x["cpu"]["agent_us_per_op"]),
                );
            }
        }
    }

    // (c)
    if let Some(runs) = r["hyperliquid"].as_array() {
        let base = &r["csign"]["secp256k1"]["procs"]["throughput"];
        let _ = writeln!(
            s,
            "\n### (c) `hyperliquid.sign_l1_action`\n\nThe SDK's BTC limit order (`order_btc_gtc_mainnet` from tests/fixtures/hyperliquid/vectors.json), agent-assigned nonce, permissive policy (every symbol, leverage up to 50), durable journal. {}. \"vs ceiling\" divides by the secp256k1 {cores}-process C_Sign rate; \"2 x N/throughput\" is the p99 bound of the targets.\n\n| Clients | ops/s | vs ceiling | p50 | p99 | p99.9 | 2 x N/throughput | agent CPU us/op | workers CPU us/op | client CPU | other CPU | errors |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            secs_pair(r, "hyperliquid")
        );
        for x in runs {
            let bound = match (x["clients"].as_f64(), x["throughput"].as_f64()) {
                (Some(c), Some(t)) if t > 0.0 => json!(2.0 * c / t * 1e6),
                _ => Value::Null,
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                x["clients"],
                rate(&x["throughput"]),
                ratio(&x["throughput"], base),
                us(&x["p50_us"]),
                us(&x["p99_us"]),
                us(&x["p999_us"]),
                us(&bound),
                us(&x["cpu"]["agent_us_per_op"]),
                us(&x["cpu"]["workers_us_per_op"]),
                pct(&x["cpu"]["client_pct"]),
                pct(&x["cpu"]["other_pct"]),
                errors(x)
            );
        }
    }

    // (d)
    if let Some(runs) = r["ssh"]["runs"].as_array() {
        let _ = writeln!(
            s,
            "\n### (d) OpenSSH ssh-agent, same P-256 key\n\n{}; SSH2_AGENTC_SIGN_REQUEST with 32 bytes of data (ssh-agent hashes them with SHA-256 and signs through ssh-pkcs11-helper). {}. Every connection is its own thread.\n\n| Connections | ops/s | p50 | p99 | p99.9 | ssh-agent CPU | pkcs11-helper CPU | other CPU | errors |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
            r["ssh"]["version"].as_str().unwrap_or("OpenSSH"),
            secs_pair(r, "ssh")
        );
        for x in runs {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                x["clients"],
                rate(&x["throughput"]),
                us(&x["p50_us"]),
                us(&x["p99_us"]),
                us(&x["p999_us"]),
                pct(&x["cpu"]["agent_pct"]),
                pct(&x["cpu"]["workers_pct"]),
                pct(&x["cpu"]["other_pct"]),
                errors(x)
            );
        }
    }

    // Memory
    if r["memory"].is_object() {
        let m = &r["memory"];
        let workers = |snap: &Value, field: &str| -> Value {
            let sum: f64 = snap["processes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["role"] == "worker")
                .filter_map(|p| p[field].as_f64())
                .sum();
            json!(sum)
        };
        let agent = |snap: &Value, field: &str| -> Value {
            snap["processes"]
                .as_array()
                .and_then(|a| a.iter().find(|p| p["role"] == "agent"))
                .map(|p| p[field].clone())
                .unwrap_or(Value::Null)
        };
        let _ = writeln!(
            s,
            "\n### Memory of the agent and its {} worker processes\n\nMiB, from /proc/PID/status (VmRSS now, VmHWM peak since start) and /proc/PID/smaps_rollup (PSS: shared pages divided among the processes mapping them). The targets use the sum of VmHWM.\n\n| State | agent RSS | agent peak | workers RSS | workers peak | total RSS | total peak (VmHWM) | total PSS |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            r["agent_workers"].as_str().unwrap_or("?")
        );
        for (name, snap) in [
            ("idle, after start".to_string(), &m["idle"]),
            (
                format!(
                    "{} idle connections (each sent one `ping`)",
                    m["connections"].as_u64().unwrap_or(0)
                ),
                &m["with_connections"],
            ),
            (
                "after all load runs (b) and (c)".to_string(),
                &r["memory_after_load"],
            ),
        ] {
            if !snap.is_object() {
                continue;
            }
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {} | {} | {} |",
                mib(&agent(snap, "rss_kib")),
                mib(&agent(snap, "hwm_kib")),
                mib(&workers(snap, "rss_kib")),
                mib(&workers(snap, "hwm_kib")),
                mib(&snap["rss_kib"]),
                mib(&snap["hwm_kib"]),
                mib(&snap["pss_kib"]),
            );
        }
    }

    // Journal
    if r["journal"].is_object() {
        let j = &r["journal"];
        let g = &j["generated"];
        let _ = writeln!(
            s,
            "\n### Journal replay at start\n\nA synthetic journal that passes every start check: {} records ({} allowed `hyperliquid.sign_l1_action` decisions with their typed intents and signature records, {} checkpoints signed by the token's audit key, a start and a stop record), {} segment files, {:.0} MiB, time stamps spread over the 24 hours before the start (so almost every order still counts as open under the default 24 h TTL). Medians of {} start(s); the files were just written, so they are read from the page cache.\n",
            g["records"],
            g["order_decisions"],
            g["checkpoints"],
            g["segments"],
            g["bytes"].as_f64().unwrap_or(0.0) / MIB / MIB,
            j["reps"]
        );
        let sec = |v: &Value| {
            v.as_f64()
                .map(|x| format!("{x:.3} s"))
                .unwrap_or_else(|| "-".into())
        };
        let _ = writeln!(
            s,
            "| Measurement | Time |\n| --- | ---: |\n| agent start → \"journal replayed\" log line, empty journal | {} |\n| agent start → \"journal replayed\" log line, this journal | {} |\n| **difference: replay at start** (read, chain check, state rebuild, checkpoint signatures) | **{}** |\n| agent start → \"agent listening\", empty journal / this journal | {} / {} |\n| in-process `segment::scan` only (parse + chain check), via the library | {} |\n| in-process `segment::scan` + `State::replay`, via the library | {} |\n| `tradeward journal verify` (whole command, token login included) | {} |",
            sec(&j["agent_start_empty_to_replayed_secs"]),
            sec(&j["agent_start_big_to_replayed_secs"]),
            sec(&j["agent_replay_secs"]),
            sec(&j["agent_start_empty_to_listening_secs"]),
            sec(&j["agent_start_big_to_listening_secs"]),
            sec(&j["in_process_scan_secs"]),
            sec(&j["in_process_replay_secs"]),
            sec(&j["verify_secs"]),
        );
        let _ = writeln!(
            s,
            "\nThe agent's log line: `{}`. Agent + workers peak memory after replaying it: {} MiB (VmHWM sum).",
            j["agent_replayed_line"].as_str().unwrap_or(""),
            mib(&j["agent_memory_after_big_replay"]["hwm_kib"])
        );
        let pr = &j["per_record"];
        if pr.is_object() {
            let _ = writeln!(
                s,
                "\nPer record (average line {:.0} bytes), measured in-process: JSON decode into a `Record` {} us, SHA-256 of the line {} us, hex-encoding a 32-byte hash {} us (no longer done per record).",
                pr["avg_line_bytes"].as_f64().unwrap_or(0.0),
                us3(&pr["decode_us"]),
                us3(&pr["sha256_us"]),
                us3(&pr["hex_us"]),
            );
        }
    }

    // Diagnostic: journal on tmpfs
    if r["tmpfs"]["p256"].is_array() {
        let _ = writeln!(
            s,
            "\n### Diagnostic: the same requests with the journal on tmpfs\n\nNot a measurement of a supported set-up: with the journal on tmpfs, fdatasync returns at once and nothing is durable. It shows how much of the latency above is the durable journal. Same agent config otherwise; {}.\n\n| Request | Clients | ops/s | p50 | p99 | p50 with the real journal (above) | agent CPU us/op | workers CPU us/op |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            secs_pair(r, "sign_other")
        );
        for (name, key, real) in [
            ("sign P-256", "p256", &r["sign"]["p256"]),
            (
                "hyperliquid.sign_l1_action",
                "hyperliquid",
                &r["hyperliquid"],
            ),
        ] {
            for x in r["tmpfs"][key].as_array().into_iter().flatten() {
                let c = x["clients"].as_u64().unwrap_or(0);
                let real_p50 = run_at(real, c)
                    .map(|v| v["p50_us"].clone())
                    .unwrap_or(Value::Null);
                let _ = writeln!(
                    s,
                    "| {name} | {c} | {} | {} | {} | {} | {} | {} |",
                    rate(&x["throughput"]),
                    us(&x["p50_us"]),
                    us(&x["p99_us"]),
                    us(&real_p50),
                    us(&x["cpu"]["agent_us_per_op"]),
                    us(&x["cpu"]["workers_us_per_op"]),
                );
            }
        }
    }

    // [cluster]
    if r["cluster"]["cluster"].is_array() {
        let _ = writeln!(
            s,
            "\n### `[cluster]`: Hyperliquid orders with the shared database\n\nThe same agent set-up twice in this run, on fresh journals: without `[cluster]`, then with it on a local PostgreSQL (a throwaway `pg_virtualenv` cluster on the same disk, `synchronous_commit = on`). Every order is one shared-decision transaction (docs/cluster.md); {}.\n\n| Clients | local ops/s | cluster ops/s | ratio | local p50 | cluster p50 | p50 added | cluster p99 |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            secs_pair(r, "hyperliquid")
        );
        for x in r["cluster"]["cluster"].as_array().into_iter().flatten() {
            let c = x["clients"].as_u64().unwrap_or(0);
            let local = run_at(&r["cluster"]["local"], c)
                .cloned()
                .unwrap_or(Value::Null);
            let ratio = match (x["throughput"].as_f64(), local["throughput"].as_f64()) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "—".into(),
            };
            let added = match (x["p50_us"].as_f64(), local["p50_us"].as_f64()) {
                (Some(a), Some(b)) => us(&json!(a - b)),
                _ => "—".into(),
            };
            let _ = writeln!(
                s,
                "| {c} | {} | {} | {ratio} | {} | {} | {added} | {} |",
                rate(&local["throughput"]),
                rate(&x["throughput"]),
                us(&local["p50_us"]),
                us(&x["p50_us"]),
                us(&x["p99_us"]),
            );
        }
    } else if let Some(why) = r["cluster"]["skipped"].as_str() {
        let _ = writeln!(s, "\n### `[cluster]`\n\nSkipped: {why}.");
    }

    // Micro-costs
    if r["micro"].is_object() {
        let m = &r["micro"];
        let _ = writeln!(
            s,
            "\n### Fixed costs per signature outside the token\n\nMeasured in-process with the library's own functions, on one core.\n\n| Work | Time (us) |\n| --- | ---: |\n| P-256: verify the token's signature (`crypto::p256::finish`) | {} |\n| secp256k1: normalise s, verify, and read the recovery id off the verification (`crypto::secp256k1::finish`) | {} |\n| Ed25519: strict verify (`crypto::ed25519::finish`) | {} |\n| fdatasync after a 400-byte append, journal's file system ({}): p50 / p99 | {} / {} |",
            us(&m["p256_verify_us"]),
            us(&m["secp256k1_verify_recover_us"]),
            us(&m["ed25519_verify_us"]),
            r["journal_fs"].as_str().unwrap_or("?"),
            us(&m["fdatasync_p50_us"]),
            us(&m["fdatasync_p99_us"]),
        );
    }
    let _ = writeln!(
        s,
        "\nWhole run: {:.0} s. Machine busy before the start: {:.0}% of one core. Load average (1, 5, 15 min) at the start: {}; at the end: {}.",
        r["total_secs"].as_f64().unwrap_or(0.0),
        r["busy_pct_before_start"].as_f64().unwrap_or(0.0),
        r["loadavg_at_start"].as_str().unwrap_or("?"),
        r["loadavg_at_end"].as_str().unwrap_or("?"),
    );
    s
}
