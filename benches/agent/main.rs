//! tradeward's performance benchmark: the agent against its ceiling (C_Sign
//! in-process on the same SoftHSM token) and against OpenSSH's ssh-agent,
//! plus memory and journal replay at start. Results go to a JSON file and a
//! Markdown block that scripts/bench.sh puts into docs/benchmarks.md.
//!
//! Run with `cargo bench --bench agent -- [--quick] [--bin PATH]
//! [--out DIR] [--work DIR] [--only SECTIONS]`, or scripts/bench.sh.
//! Under `cargo test --all-targets` this binary is built and started
//! without `--bench`; it then does nothing and exits successfully.

mod cluster;
mod csign;
mod journal;
mod load;
mod report;
mod setup;
mod sshagent;
mod stats;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tradeward::backend::KeyType;

use load::{Sampler, TwConn, Window, closed_loop};
use setup::{AgentProc, Env, start_agent};
use stats::{RunResult, median};

struct Opts {
    quick: bool,
    bin: PathBuf,
    out: PathBuf,
    work: Option<PathBuf>,
    only: Option<Vec<String>>,
    journal_records: Option<u64>,
    /// Only turn a saved results.json into results.md.
    render: Option<PathBuf>,
}

impl Opts {
    fn wants(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|v| v.iter().any(|s| s == section))
    }
}

/// Durations and concurrency levels of one run.
struct Plan {
    csign: Window,
    csign_threads_mode: bool,
    sign_p256: Window,
    sign_levels: Vec<usize>,
    sign_other: Window,
    sign_other_levels: Vec<usize>,
    hl: Window,
    hl_levels: Vec<usize>,
    ssh: Window,
    ssh_levels: Vec<usize>,
    ping: Window,
    ping_levels: Vec<usize>,
    idle_connections: usize,
    journal_records: u64,
    replay_reps: usize,
    start_reps: usize,
}

impl Plan {
    fn new(o: &Opts) -> Plan {
        if o.quick {
            Plan {
                csign: Window::new(0.3, 1.0),
                csign_threads_mode: false,
                sign_p256: Window::new(0.3, 1.5),
                sign_levels: vec![1, 2, 8, 32, 128],
                sign_other: Window::new(0.3, 1.0),
                sign_other_levels: vec![1, 8],
                hl: Window::new(0.3, 1.5),
                hl_levels: vec![1, 2, 8, 16, 32, 128],
                ssh: Window::new(0.3, 1.0),
                ssh_levels: vec![1, 8],
                ping: Window::new(0.3, 1.0),
                ping_levels: vec![1],
                idle_connections: 1000,
                journal_records: o.journal_records.unwrap_or(100_000),
                replay_reps: 1,
                start_reps: 1,
            }
        } else {
            Plan {
                csign: Window::new(1.0, 5.0),
                csign_threads_mode: true,
                sign_p256: Window::new(1.0, 6.0),
                sign_levels: vec![1, 2, 8, 32, 128],
                sign_other: Window::new(1.0, 4.0),
                sign_other_levels: vec![1, 2, 8, 32, 128],
                hl: Window::new(1.0, 6.0),
                hl_levels: vec![1, 2, 8, 16, 32, 128],
                ssh: Window::new(1.0, 5.0),
                ssh_levels: vec![1, 2, 4, 8],
                ping: Window::new(1.0, 3.0),
                ping_levels: vec![1, 8],
                idle_connections: 1000,
                journal_records: o.journal_records.unwrap_or(1_000_000),
                replay_reps: 3,
                start_reps: 2,
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let code = match args.get(1).map(String::as_str) {
            Some("csign") => csign::child_main(&args),
            Some("gen-journal") => journal::child_main(&args),
            other => {
                eprintln!("unknown child mode {other:?}");
                2
            }
        };
        std::process::exit(code);
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` does not.
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "agent benchmark: nothing to do outside `cargo bench` (run `cargo bench --bench agent` or scripts/bench.sh)"
        );
        return;
    }
    let opts = match parse_opts(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("agent benchmark: {e}");
            std::process::exit(2);
        }
    };
    if let Some(json) = &opts.render {
        if let Err(e) = render(json, &opts.out) {
            eprintln!("agent benchmark: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = run(&opts) {
        eprintln!("agent benchmark failed: {e}");
        std::process::exit(1);
    }
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut o = Opts {
        quick: false,
        bin: manifest.join("target/release/tradeward"),
        out: manifest.join("target/bench"),
        work: None,
        only: None,
        journal_records: None,
        render: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--quick" => o.quick = true,
            "--bin" => o.bin = PathBuf::from(val()?),
            "--out" => o.out = PathBuf::from(val()?),
            "--work" => o.work = Some(PathBuf::from(val()?)),
            "--only" => o.only = Some(val()?.split(',').map(String::from).collect()),
            "--render" => o.render = Some(PathBuf::from(val()?)),
            "--journal-records" => {
                o.journal_records = Some(val()?.parse().map_err(|_| "--journal-records")?)
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !o.bin.exists() {
        return Err(format!(
            "{} does not exist: build it first (cargo build --release)",
            o.bin.display()
        ));
    }
    Ok(o)
}

/// Write results.md from a results.json of an earlier run (no measuring).
fn render(json: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(json).map_err(|e| format!("{}: {e}", json.display()))?;
    let results: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let md = out.join("results.md");
    std::fs::write(&md, report::markdown(&results)).map_err(|e| e.to_string())?;
    say(format!("wrote {}", md.display()));
    Ok(())
}

fn say(msg: impl AsRef<str>) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "[bench] {}", msg.as_ref());
}

fn line(label: &str, r: &RunResult) {
    let cpu = r
        .cpu
        .as_ref()
        .map(|c| {
            format!(
                "  cpu agent {:.0}% workers {:.0}% client {:.0}% other {:.0}%",
                100.0 * c.agent_s / r.secs,
                100.0 * c.workers_s / r.secs,
                100.0 * c.client_s / r.secs,
                100.0 * c.other_s / r.secs
            )
        })
        .unwrap_or_default();
    say(format!(
        "{label:<28} {:>4} clients {:>9.0}/s  p50 {:>8.1} us  p99 {:>8.1} us  p99.9 {:>8.1} us  errors {}{cpu}{}",
        r.clients,
        r.throughput(),
        r.p_us(0.5),
        r.p_us(0.99),
        r.p_us(0.999),
        r.errors,
        r.first_error
            .as_deref()
            .map(|e| format!("  first error: {e}"))
            .unwrap_or_default()
    ));
}

fn raise_nofile() {
    // SAFETY: plain getrlimit/setrlimit on our own process.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn run(o: &Opts) -> Result<(), String> {
    raise_nofile();
    let plan = Plan::new(o);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let t_all = Instant::now();
    say(format!(
        "{} run on {cores} cores with {}",
        if o.quick { "quick" } else { "full" },
        o.bin.display()
    ));
    let busy = load::machine_busy_pct(Duration::from_secs(1));
    if busy > 15.0 {
        say(format!(
            "WARNING: the machine is already busy ({busy:.0}% of a core over the last second); results will be disturbed"
        ));
    }
    let env = Env::new(&o.bin, o.work.as_deref())?;
    say(format!("token and keys ready in {}", env.root.display()));
    let spec = csign::spec_from(
        &env.module,
        &env.token_label,
        &env.pin_file,
        &env.softhsm_conf,
    );
    let mut results = json!({
        "mode": if o.quick { "quick" } else { "full" },
        "cores": cores,
        "windows": {
            "csign": [plan.csign.warm.as_secs_f64(), plan.csign.secs.as_secs_f64()],
            "sign_p256": [plan.sign_p256.warm.as_secs_f64(), plan.sign_p256.secs.as_secs_f64()],
            "sign_other": [plan.sign_other.warm.as_secs_f64(), plan.sign_other.secs.as_secs_f64()],
            "hyperliquid": [plan.hl.warm.as_secs_f64(), plan.hl.secs.as_secs_f64()],
            "ssh": [plan.ssh.warm.as_secs_f64(), plan.ssh.secs.as_secs_f64()],
        },
        "journal_fs": fs_type(&env.root),
        "loadavg_at_start": loadavg(),
        "busy_pct_before_start": busy,
    });

    // (a) The ceiling.
    if o.wants("csign") {
        let mut out = serde_json::Map::new();
        for (kt, alias) in [
            (KeyType::P256, "p256"),
            (KeyType::Secp256k1, "k1"),
            (KeyType::Ed25519, "ed"),
            (KeyType::Hmac, "hmac"),
        ] {
            let label = env.key(alias).label;
            let mut modes = serde_json::Map::new();
            let one = csign::measure(&spec, label, kt, 1, 1, plan.csign)?;
            line(&format!("C_Sign {kt} 1 process"), &one);
            modes.insert("one".into(), one.to_json());
            let procs = csign::measure(&spec, label, kt, cores, 1, plan.csign)?;
            line(&format!("C_Sign {kt} {cores} processes"), &procs);
            modes.insert("procs".into(), procs.to_json());
            if plan.csign_threads_mode && cores > 1 {
                let threads = csign::measure(&spec, label, kt, 1, cores, plan.csign)?;
                line(&format!("C_Sign {kt} {cores} threads"), &threads);
                modes.insert("threads".into(), threads.to_json());
            }
            out.insert(kt.as_str().into(), Value::Object(modes));
        }
        results["csign"] = Value::Object(out);
    }

    // Micro-costs of the agent's own work per signature.
    if o.wants("micro") {
        results["micro"] = micro_costs(&env.root, o.quick)?;
    }

    // The agent: memory, (b) sign, (c) Hyperliquid.
    let main_journal = env.root.join("journal-main");
    let sock = env.root.join("run").join("agent.sock");
    let agent_needed = ["mem", "sign", "hl", "journal"].iter().any(|s| o.wants(s));
    if agent_needed {
        let config = env.root.join("agent.toml");
        env.write_agent_config(
            &config,
            &sock,
            &main_journal,
            "max_connections_per_identity = 1024",
        )?;
        let mut agent = start_agent(
            &o.bin,
            &config,
            &sock,
            &env.root.join("agent-main.log"),
            Duration::from_secs(120),
        )?;
        let listening = agent.wait_for_log("agent listening", Duration::from_secs(1))?;
        results["agent_workers"] = json!(field_of(&listening.1, "workers"));
        say(format!(
            "agent up (pid {}, workers {:?})",
            agent.pid(),
            agent.workers()
        ));
        sanity_checks(&env, &sock)?;
        if o.wants("mem") {
            results["memory"] = memory(&agent, &sock, plan.idle_connections)?;
        }
        let sampler = Sampler::new(agent.pid());
        if o.wants("sign") {
            let mut pings = Vec::new();
            for &c in &plan.ping_levels {
                let r = closed_loop(
                    c,
                    plan.ping,
                    |_| {
                        TwConn::connect(&sock, r#"{"id":1,"op":"ping"}"#)
                            .map(|c| Box::new(c) as Box<dyn load::Conn>)
                    },
                    || {},
                    Some(&sampler),
                );
                line("agent ping", &r);
                pings.push(r.to_json());
            }
            results["ping"] = Value::Array(pings);
            let mut out = serde_json::Map::new();
            for (name, alias, field, w, levels) in [
                ("p256", "p256", "digest", plan.sign_p256, &plan.sign_levels),
                (
                    "secp256k1",
                    "k1",
                    "digest",
                    plan.sign_other,
                    &plan.sign_other_levels,
                ),
                (
                    "ed25519",
                    "ed",
                    "message",
                    plan.sign_other,
                    &plan.sign_other_levels,
                ),
                (
                    "hmac",
                    "hmac",
                    "message",
                    plan.sign_other,
                    &plan.sign_other_levels,
                ),
            ] {
                let mut runs = Vec::new();
                for &c in levels {
                    let r = closed_loop(
                        c,
                        w,
                        |i| sign_conn(&sock, alias, field, i),
                        || {},
                        Some(&sampler),
                    );
                    line(&format!("agent sign {name}"), &r);
                    runs.push(r.to_json());
                }
                out.insert(name.into(), Value::Array(runs));
            }
            results["sign"] = Value::Object(out);
        }
        if o.wants("hl") {
            let payload = hl_payload()?;
            let mut runs = Vec::new();
            for &c in &plan.hl_levels {
                let r = closed_loop(
                    c,
                    plan.hl,
                    |_| {
                        TwConn::connect(&sock, &payload).map(|c| Box::new(c) as Box<dyn load::Conn>)
                    },
                    || {},
                    Some(&sampler),
                );
                line("agent hyperliquid L1", &r);
                runs.push(r.to_json());
            }
            results["hyperliquid"] = Value::Array(runs);
        }
        results["memory_after_load"] = mem_snapshot(&agent);
        agent.stop()?;
        say("agent stopped");
    }

    if o.wants("cluster") {
        results["cluster"] = cluster::bench(&env, plan.hl, &o.bin)?;
    }
    if o.wants("diag") {
        results["tmpfs"] = tmpfs_diag(&env, &plan, &sock)?;
    }

    // (d) OpenSSH ssh-agent.
    if o.wants("ssh") {
        results["ssh"] = ssh_bench(&env, &plan)?;
    }

    // Journal replay at start.
    if o.wants("journal") {
        results["journal"] = journal_bench(&env, &plan, &main_journal, &sock)?;
    }

    results["loadavg_at_end"] = json!(loadavg());
    results["targets"] = report::targets(&results);
    results["total_secs"] = json!(t_all.elapsed().as_secs_f64());
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let json_path = o.out.join("results.json");
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&results).expect("json"),
    )
    .map_err(|e| e.to_string())?;
    let md_path = o.out.join("results.md");
    std::fs::write(&md_path, report::markdown(&results)).map_err(|e| e.to_string())?;
    for t in results["targets"].as_array().into_iter().flatten() {
        say(format!(
            "target {:<60} {}",
            t["name"].as_str().unwrap_or(""),
            t["verdict"].as_str().unwrap_or("")
        ));
    }
    say(format!(
        "done in {:.0} s; wrote {} and {}",
        t_all.elapsed().as_secs_f64(),
        json_path.display(),
        md_path.display()
    ));
    Ok(())
}

/// A connection that repeats one `sign` request (client `i`'s own bytes).
fn sign_conn(
    sock: &Path,
    alias: &str,
    field: &str,
    i: usize,
) -> Result<Box<dyn load::Conn>, String> {
    let payload = json!({
        "id": 1,
        "op": "sign",
        "params": {"key": alias, field: hex::encode([i as u8 ^ 0x5a; 32])},
    })
    .to_string();
    TwConn::connect(sock, &payload).map(|c| Box::new(c) as Box<dyn load::Conn>)
}

/// Diagnostic: the same requests with the journal on tmpfs, where
/// fdatasync costs next to nothing, to show how much of the latency is
/// the durable journal. Not a configuration to run in production.
fn tmpfs_diag(env: &Env, plan: &Plan, sock: &Path) -> Result<Value, String> {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() || fs_type(shm) != "tmpfs" {
        return Ok(json!({"skipped": "no tmpfs at /dev/shm"}));
    }
    let dir = tempfile::Builder::new()
        .prefix("twbench-journal")
        .tempdir_in(shm)
        .map_err(|e| e.to_string())?;
    let config = env.root.join("agent-tmpfs.toml");
    env.write_agent_config(
        &config,
        sock,
        &dir.path().join("journal"),
        "max_connections_per_identity = 1024",
    )?;
    let agent = start_agent(
        &env.bin,
        &config,
        sock,
        &env.root.join("agent-tmpfs.log"),
        Duration::from_secs(120),
    )?;
    let sampler = Sampler::new(agent.pid());
    let mut p256 = Vec::new();
    for c in [1usize, 8] {
        let r = closed_loop(
            c,
            plan.sign_other,
            |i| sign_conn(sock, "p256", "digest", i),
            || {},
            Some(&sampler),
        );
        line("tmpfs journal: sign p256", &r);
        p256.push(r.to_json());
    }
    let payload = hl_payload()?;
    let mut hl = Vec::new();
    for c in [1usize, 16] {
        let r = closed_loop(
            c,
            plan.sign_other,
            |_| TwConn::connect(sock, &payload).map(|c| Box::new(c) as Box<dyn load::Conn>),
            || {},
            Some(&sampler),
        );
        line("tmpfs journal: hyperliquid", &r);
        hl.push(r.to_json());
    }
    drop(agent);
    Ok(json!({"p256": p256, "hyperliquid": hl}))
}

/// `key=value` from a log line.
fn field_of(line: &str, name: &str) -> Option<String> {
    line.split_whitespace().find_map(|w| {
        w.strip_prefix(name)
            .and_then(|r| r.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_string())
    })
}

/// The Hyperliquid request: the SDK's BTC limit order from the test
/// vectors, nonce left to the agent.
fn hl_payload() -> Result<String, String> {
    let text = std::fs::read_to_string(setup::fixtures_dir().join("vectors.json"))
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let order = v["vectors"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "order_btc_gtc_mainnet"))
        .ok_or("order_btc_gtc_mainnet not in the vectors")?;
    Ok(json!({
        "id": 1,
        "op": "hyperliquid.sign_l1_action",
        "params": {"key": "hl", "action": order["action"], "is_mainnet": true},
    })
    .to_string())
}

/// One request of each kind through the Rust client, checked, before any
/// timing: the benchmark must measure requests that succeed.
fn sanity_checks(env: &Env, sock: &Path) -> Result<(), String> {
    let mut c = tradeward::client::Client::connect(sock).map_err(|e| e.to_string())?;
    c.set_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let digest = [7u8; 32];
    let r = c.sign_digest("p256", &digest).map_err(|e| e.to_string())?;
    let sig = tradeward::client::hex_field(&r, "signature").map_err(|e| e.to_string())?;
    let pk = env
        .key("p256")
        .public_key
        .clone()
        .ok_or("no P-256 public key")?;
    // Checked with the `p256` crate, not the agent's own verifier.
    {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&pk).map_err(|e| e.to_string())?;
        let sig = p256::ecdsa::Signature::from_slice(&sig).map_err(|e| e.to_string())?;
        vk.verify_prehash(&digest, &sig)
            .map_err(|e| format!("the agent's P-256 signature does not verify: {e}"))?;
    }
    c.sign_digest("k1", &digest).map_err(|e| e.to_string())?;
    c.sign_message("ed", &digest).map_err(|e| e.to_string())?;
    c.sign_message("hmac", &digest).map_err(|e| e.to_string())?;
    let payload: Value = serde_json::from_str(&hl_payload()?).map_err(|e| e.to_string())?;
    let r = c
        .call("hyperliquid.sign_l1_action", payload["params"].clone())
        .map_err(|e| format!("hyperliquid.sign_l1_action: {e}"))?;
    if r.get("signature").is_none() || r.get("nonce").is_none() {
        return Err(format!("unexpected Hyperliquid result {r}"));
    }
    Ok(())
}

fn kib(v: Option<u64>) -> Value {
    v.map(Value::from).unwrap_or(Value::Null)
}

/// RSS, peak RSS and PSS of the agent and each worker.
fn mem_snapshot(agent: &AgentProc) -> Value {
    let mut procs = vec![("agent".to_string(), agent.pid())];
    for w in agent.workers() {
        procs.push(("worker".to_string(), w));
    }
    let (mut rss, mut hwm, mut pss) = (0u64, 0u64, 0u64);
    let mut list = Vec::new();
    for (role, pid) in procs {
        let r = load::procfs::status_kib(pid, "VmRSS");
        let h = load::procfs::status_kib(pid, "VmHWM");
        let p = load::procfs::pss_kib(pid);
        rss += r.unwrap_or(0);
        hwm += h.unwrap_or(0);
        pss += p.unwrap_or(0);
        list.push(json!({"role": role, "pid": pid, "rss_kib": kib(r), "hwm_kib": kib(h), "pss_kib": kib(p)}));
    }
    json!({"processes": list, "rss_kib": rss, "hwm_kib": hwm, "pss_kib": pss})
}

fn memory(agent: &AgentProc, sock: &Path, n: usize) -> Result<Value, String> {
    std::thread::sleep(Duration::from_secs(1));
    let idle = mem_snapshot(agent);
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = TwConn::connect(sock, r#"{"id":1,"op":"ping"}"#)
            .map_err(|e| format!("connection {i}: {e}"))?;
        load::Conn::call(&mut c).map_err(|e| match e {
            load::CallError::Remote(m) | load::CallError::Io(m) => format!("connection {i}: {m}"),
        })?;
        conns.push(c);
    }
    std::thread::sleep(Duration::from_secs(1));
    let with = mem_snapshot(agent);
    drop(conns);
    std::thread::sleep(Duration::from_millis(500));
    say(format!(
        "memory: idle {} KiB (peak {} KiB); with {n} idle connections {} KiB (peak {} KiB)",
        idle["rss_kib"], idle["hwm_kib"], with["rss_kib"], with["hwm_kib"]
    ));
    Ok(json!({"idle": idle, "connections": n, "with_connections": with}))
}

fn ssh_bench(env: &Env, plan: &Plan) -> Result<Value, String> {
    let pk = env
        .key("p256")
        .public_key
        .clone()
        .ok_or("no P-256 public key")?;
    let agent = sshagent::start(env)?;
    let blob = sshagent::find_blob(&agent.sock, &pk)?;
    sshagent::check_one_signature(&agent.sock, &blob, &pk)?;
    let sampler = Sampler::new(agent.pid());
    let mut runs = Vec::new();
    for &c in &plan.ssh_levels {
        let r = closed_loop(
            c,
            plan.ssh,
            |i| {
                let mut conn = load::SshConn::connect(&agent.sock)?;
                conn.set_sign_request(&blob, &[i as u8 ^ 0x5a; 32]);
                Ok(Box::new(conn) as Box<dyn load::Conn>)
            },
            || {},
            Some(&sampler),
        );
        line("ssh-agent sign P-256", &r);
        runs.push(r.to_json());
    }
    drop(agent);
    Ok(json!({"version": sshagent::openssh_version(), "runs": runs}))
}

fn journal_bench(env: &Env, plan: &Plan, template: &Path, sock: &Path) -> Result<Value, String> {
    let spec = csign::spec_from(
        &env.module,
        &env.token_label,
        &env.pin_file,
        &env.softhsm_conf,
    );
    let big = env.root.join("journal-big");
    say(format!(
        "writing a journal of {} records",
        plan.journal_records
    ));
    let generated = journal::generate_in_child(&journal::GenParams {
        spec: &spec,
        template,
        out: &big,
        records: plan.journal_records,
        span_ms: 24 * 3600 * 1000,
        segment_bytes: 64 * 1024 * 1024,
        checkpoint_every: 1000,
    })?;
    say(format!("journal written: {generated}"));
    let big_config = env.root.join("agent-big.toml");
    env.write_agent_config(&big_config, sock, &big, "")?;

    // In this process, through the library: scan only, then scan + replay.
    let mut scan_secs = Vec::new();
    let mut replay_secs = Vec::new();
    let mut orders = 0;
    for _ in 0..plan.replay_reps {
        let (s, _, _) = journal::replay_in_process(&big_config, false)?;
        scan_secs.push(s);
        let (s, _, o) = journal::replay_in_process(&big_config, true)?;
        replay_secs.push(s);
        orders = o;
    }
    say(format!(
        "in-process: scan {:.3} s, scan + replay {:.3} s",
        median(scan_secs.clone()),
        median(replay_secs.clone())
    ));

    // The agent's start, empty journal against the big one, interleaved.
    let mut empty_to_replayed = Vec::new();
    let mut big_to_replayed = Vec::new();
    let mut big_to_listening = Vec::new();
    let mut empty_to_listening = Vec::new();
    let mut replayed_line = String::new();
    let mut big_hwm = Value::Null;
    for r in 0..plan.start_reps {
        let empty_dir = env.root.join(format!("journal-empty-{r}"));
        let empty_config = env.root.join(format!("agent-empty-{r}.toml"));
        env.write_agent_config(&empty_config, sock, &empty_dir, "")?;
        for (config, log, to_replayed, to_listening) in [
            (
                &empty_config,
                format!("agent-empty-{r}.log"),
                &mut empty_to_replayed,
                &mut empty_to_listening,
            ),
            (
                &big_config,
                format!("agent-big-{r}.log"),
                &mut big_to_replayed,
                &mut big_to_listening,
            ),
        ] {
            let mut a = start_agent(
                &env.bin,
                config,
                sock,
                &env.root.join(log),
                Duration::from_secs(600),
            )?;
            let (t, l) = a.wait_for_log("journal replayed", Duration::from_secs(1))?;
            let (tl, _) = a.wait_for_log("agent listening", Duration::from_secs(1))?;
            to_replayed.push(t.as_secs_f64());
            to_listening.push(tl.as_secs_f64());
            if config == &big_config {
                replayed_line = l;
                big_hwm = mem_snapshot(&a);
            }
            a.stop()?;
        }
    }
    let d_replayed = median(big_to_replayed.clone()) - median(empty_to_replayed.clone());
    say(format!(
        "agent start to \"journal replayed\": empty {:.3} s, big {:.3} s (difference {:.3} s)",
        median(empty_to_replayed.clone()),
        median(big_to_replayed.clone()),
        d_replayed
    ));

    // `tradeward journal verify`.
    let t = Instant::now();
    let out = std::process::Command::new(&env.bin)
        .args(["journal", "verify", "--config"])
        .arg(&big_config)
        .output()
        .map_err(|e| e.to_string())?;
    let verify_secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "journal verify failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    say(format!("journal verify: {verify_secs:.3} s"));
    let per_record = journal::per_record_costs(&big)?;
    say(format!("per record: {per_record}"));
    Ok(json!({
        "generated": generated,
        "in_process_scan_secs": median(scan_secs),
        "in_process_replay_secs": median(replay_secs),
        "replayed_orders": orders,
        "agent_start_empty_to_replayed_secs": median(empty_to_replayed),
        "agent_start_big_to_replayed_secs": median(big_to_replayed),
        "agent_start_empty_to_listening_secs": median(empty_to_listening),
        "agent_start_big_to_listening_secs": median(big_to_listening),
        "agent_replay_secs": d_replayed,
        "agent_replayed_line": strip_log_prefix(&replayed_line),
        "agent_memory_after_big_replay": big_hwm,
        "verify_secs": verify_secs,
        "per_record": per_record,
        "verify_output": String::from_utf8_lossy(&out.stdout).trim().to_string(),
        "reps": plan.start_reps,
    }))
}

/// /proc/loadavg's first three fields.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The log line without its timestamp.
fn strip_log_prefix(l: &str) -> String {
    match l.find("INFO") {
        Some(i) => l[i + 4..].trim().to_string(),
        None => l.trim().to_string(),
    }
}

/// File system type of `p` (the journal's), by statfs magic.
fn fs_type(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap_or_default();
    // SAFETY: statfs on a NUL-terminated path into a zeroed struct.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut s) } != 0 {
        return "unknown".into();
    }
    match s.f_type as i64 {
        0xEF53 => "ext4".into(),
        0x01021994 => "tmpfs".into(),
        0x58465342 => "xfs".into(),
        0x9123683E => "btrfs".into(),
        0x794c7630 => "overlayfs".into(),
        0x2FC12FC1 => "zfs".into(),
        other => format!("0x{other:x}"),
    }
}

/// Per-signature work the agent does besides the token's C_Sign:
/// verifying the token's answer (and for secp256k1, normalising s and
/// finding the recovery id), and the journal's fdatasync.
fn micro_costs(root: &Path, quick: bool) -> Result<Value, String> {
    use ed25519_dalek::Signer;
    let dur = Duration::from_secs_f64(if quick { 0.3 } else { 1.0 });
    let time = |f: &mut dyn FnMut()| -> f64 {
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed() < dur {
            f();
            n += 1;
        }
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    };
    let digest = [3u8; 32];
    let p = p256::ecdsa::SigningKey::from_slice(&[5u8; 32]).map_err(|e| e.to_string())?;
    let (ps, _) = p.sign_prehash_recoverable(&digest);
    let praw = ps.to_bytes();
    let pv =
        tradeward::crypto::p256::Verifier::new(p.verifying_key().to_sec1_point(false).as_bytes())
            .map_err(|e| e.to_string())?;
    let p256_us = time(&mut || {
        tradeward::crypto::p256::finish(&pv, &digest, &praw).expect("verifies");
    });
    let k = k256::ecdsa::SigningKey::from_slice(&[0x11u8; 32]).map_err(|e| e.to_string())?;
    let (ks, _) = k.sign_prehash_recoverable(&digest);
    let kraw = ks.to_bytes();
    let k1_us = time(&mut || {
        tradeward::crypto::secp256k1::finish(k.verifying_key(), &digest, &kraw).expect("verifies");
    });
    let e = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let esig = e.sign(&digest).to_bytes();
    let evk = e.verifying_key();
    let ed_us = time(&mut || {
        tradeward::crypto::ed25519::finish(&evk, &digest, &esig).expect("verifies");
    });
    // fdatasync of a small append, on the journal's file system.
    let path = root.join("fsync-probe");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| e.to_string())?;
    let mut h = stats::Histogram::new();
    let rec = [b'x'; 400];
    let n = if quick { 200 } else { 1000 };
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&rec).map_err(|e| e.to_string())?;
        f.sync_data().map_err(|e| e.to_string())?;
        h.record(t.elapsed().as_nanos() as u64);
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    let v = json!({
        "p256_verify_us": p256_us,
        "secp256k1_verify_recover_us": k1_us,
        "ed25519_verify_us": ed_us,
        "fdatasync_p50_us": h.quantile(0.5) as f64 / 1000.0,
        "fdatasync_p99_us": h.quantile(0.99) as f64 / 1000.0,
        "fdatasync_mean_us": h.mean_ns() / 1000.0,
    });
    say(format!("micro-costs: {v}"));
    Ok(v)
}
