//! Test harness: a fresh SoftHSM token in a temporary folder, keys made with
//! the real `tradeward` binary, and the real agent started on a real socket.
//! Every test gets its own token, so tests run in parallel safely.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tradeward::client::Client;

pub const BIN: &str = env!("CARGO_BIN_EXE_tradeward");
pub const AUDIT_LABEL: &str = "tradeward-audit";

/// One key to put in the agent's config.
pub struct KeySpec<'a> {
    pub alias: &'a str,
    pub key_type: &'a str,
    pub label: &'a str,
    pub raw_signing: bool,
}

pub fn key<'a>(alias: &'a str, key_type: &'a str, label: &'a str) -> KeySpec<'a> {
    KeySpec {
        alias,
        key_type,
        label,
        raw_signing: true,
    }
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub sock: PathBuf,
    /// The config `init-dev` wrote, before any test changed it.
    starter: String,
}

impl Env {
    /// A new development token with its starter config.
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("tw")
            .tempdir()
            .expect("tempdir");
        let tok = dir.path().join("tok");
        let out = Command::new(BIN)
            .args(["token", "init-dev", "--dir"])
            .arg(&tok)
            .output()
            .expect("run init-dev");
        assert!(
            out.status.success(),
            "init-dev failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = tok.join("tradeward.toml");
        let sock = tok.join("run").join("agent.sock");
        let starter = std::fs::read_to_string(&config).unwrap();
        Env {
            dir,
            config,
            sock,
            starter,
        }
    }

    pub fn tok(&self) -> PathBuf {
        self.dir.path().join("tok")
    }

    /// `tradeward ARGS` with this token's config.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("TRADEWARD_CONFIG", &self.config);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run tradeward")
    }

    /// Generate a key; returns `keys generate --json` output.
    pub fn generate(&self, key_type: &str, label: &str) -> Value {
        let out = self.run(&[
            "keys", "generate", "--type", key_type, "--label", label, "--json",
        ]);
        assert!(
            out.status.success(),
            "generate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("generate json")
    }

    /// Import a secret through stdin.
    pub fn import(&self, key_type: &str, label: &str, secret: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd()
            .args([
                "keys", "import", "--type", key_type, "--label", label, "--json",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn import");
        child.stdin.take().unwrap().write_all(secret).unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn list(&self) -> Value {
        let out = self.run(&["keys", "list", "--json"]);
        assert!(
            out.status.success(),
            "list failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("list json")
    }

    /// Labels of the token's keys, without the journal's audit key that
    /// `init-dev` creates.
    pub fn labels(&self) -> Vec<String> {
        self.list()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["label"].as_str().unwrap().to_string())
            .filter(|l| l != AUDIT_LABEL)
            .collect()
    }

    /// Make the SoftHSM token "leave" by moving its files away; returns
    /// (where they were, where they are) for `reinsert_token`.
    pub fn pull_token(&self) -> (PathBuf, PathBuf) {
        let tokens = self.tok().join("tokens");
        let dir = std::fs::read_dir(&tokens)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let aside = self.tok().join("aside");
        std::fs::rename(&dir, &aside).unwrap();
        (dir, aside)
    }

    /// Put a pulled token back.
    pub fn reinsert_token(&self, pulled: &(PathBuf, PathBuf)) {
        std::fs::rename(&pulled.1, &pulled.0).unwrap();
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.tok().join("journal")
    }

    /// The journal's segment files, in order.
    pub fn segments(&self) -> Vec<PathBuf> {
        let mut segs: Vec<PathBuf> = std::fs::read_dir(self.journal_dir())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("segment-")
            })
            .collect();
        segs.sort();
        segs
    }

    /// Every journal record, in order, as JSON.
    pub fn records(&self) -> Vec<Value> {
        self.segments()
            .iter()
            .flat_map(|s| {
                std::fs::read_to_string(s)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// `tradeward journal verify` on this config must pass.
    pub fn verify_journal(&self) {
        let out = self.run(&["journal", "verify", "--config", path_str(&self.config)]);
        assert!(
            out.status.success(),
            "journal verify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn softhsm_conf(&self) -> PathBuf {
        self.tok().join("softhsm2.conf")
    }

    pub fn pin(&self) -> String {
        std::fs::read_to_string(self.tok().join("user.pin")).unwrap()
    }

    /// Rewrite the agent config: the starter's [agent]/[pkcs11] plus the
    /// given keys, one identity for this uid granted all of them, and
    /// `extra` TOML appended to [agent] (e.g. `max_frame_bytes = 4096`).
    pub fn write_config(&self, keys: &[KeySpec], agent_extra: &str, identity_extra: &str) {
        let head: String = self
            .starter
            .split("[identities.developer]")
            .next()
            .unwrap()
            .replace("[agent]\n", &format!("[agent]\n{agent_extra}\n"));
        let aliases: Vec<String> = keys.iter().map(|k| format!("{:?}", k.alias)).collect();
        let uid = unsafe { libc::getuid() };
        let mut s = head;
        s.push_str(&format!(
            "[identities.developer]\nuids = [{uid}]\nkeys = [{}]\nops = [\"list_keys\", \"sign\"]\n{identity_extra}\n",
            aliases.join(", ")
        ));
        for k in keys {
            s.push_str(&format!(
                "\n[keys.{}]\ntype = {:?}\nlabel = {:?}\nraw_signing = {}\n",
                k.alias, k.key_type, k.label, k.raw_signing
            ));
        }
        std::fs::write(&self.config, s).unwrap();
    }

    /// Start the agent and wait until its socket answers.
    pub fn start_agent(&self) -> Agent {
        self.try_start_agent()
            .unwrap_or_else(|e| panic!("agent did not start: {e}"))
    }

    /// Start the agent with extra environment variables.
    pub fn start_agent_with_env(&self, vars: &[(&str, &str)]) -> Agent {
        self.try_start_agent_with_env(vars)
            .unwrap_or_else(|e| panic!("agent did not start: {e}"))
    }

    pub fn try_start_agent(&self) -> Result<Agent, String> {
        self.try_start_agent_with_env(&[])
    }

    pub fn try_start_agent_with_env(&self, vars: &[(&str, &str)]) -> Result<Agent, String> {
        let log = self
            .dir
            .path()
            .join(format!("agent-{}.log", Instant::now().elapsed().as_nanos()));
        let logf = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(BIN)
            .args(["agent", "--config"])
            .arg(&self.config)
            .env("TRADEWARD_LOG", "info")
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("spawn agent");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("agent exited with {status}: {text}"));
            }
            let ready = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("agent listening");
            if ready && Client::connect(&self.sock).is_ok() {
                return Ok(Agent {
                    child,
                    sock: self.sock.clone(),
                    log,
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("timed out".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub struct Agent {
    pub child: Child,
    pub sock: PathBuf,
    pub log: PathBuf,
}

impl Agent {
    pub fn client(&self) -> Client {
        let c = Client::connect(&self.sock).expect("connect");
        c.set_timeout(Some(Duration::from_secs(60))).unwrap();
        c
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The agent's worker processes (children running `tradeward worker`).
    pub fn worker_pids(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Field 4 (after the parenthesised command) is the parent pid.
            let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
                continue;
            };
            let ppid: u32 = rest
                .split(' ')
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            if ppid == self.pid() {
                out.push(pid);
            }
        }
        out.sort();
        out
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM and wait (bounded), workers included.
    pub fn stop(&mut self) -> ExitStatus {
        let workers = self.worker_pids();
        let status = self.stop_agent_only();
        wait_gone(&workers);
        status
    }

    fn stop_agent_only(&mut self) -> ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("agent did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let workers = self.worker_pids();
            let _ = self.child.kill();
            let _ = self.child.wait();
            // The workers die with the agent (PR_SET_PDEATHSIG), a moment
            // later; wait for that so the next user of the token does not
            // race their exit.
            wait_gone(&workers);
        }
    }
}

/// Wait (up to 10 s) until none of `pids` is alive.
fn wait_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    // A zombie (state Z, waiting for its new parent to reap it) is gone.
    let alive = |p: &u32| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .ok()
            .and_then(|st| st.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
            .unwrap_or(false)
    };
    while pids.iter().any(alive) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Pipeline `n` digest-signing requests with `key` (digests [i; 32]).
pub fn send_signs(c: &mut Client, key: &str, n: u8) {
    for i in 0..n {
        c.send(
            "sign",
            serde_json::json!({"key": key, "digest": hex::encode([i; 32])}),
        )
        .unwrap();
    }
}

/// Hex field of a JSON result, decoded.
pub fn hexf(v: &Value, name: &str) -> Vec<u8> {
    tradeward::client::hex_field(v, name).unwrap_or_else(|e| panic!("{e} in {v}"))
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
