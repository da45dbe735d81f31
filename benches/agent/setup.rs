//! The benchmark's world: a fresh SoftHSM development token made with
//! `tradeward token init-dev`, the benchmark keys generated on it with
//! `tradeward keys generate`, agent configs, and the agent process itself.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::load::procfs;

/// One key the benchmark uses.
pub struct KeyDef {
    pub alias: &'static str,
    pub key_type: &'static str,
    pub label: &'static str,
    pub raw_signing: bool,
    /// Public key as `keys generate` reported it (none for HMAC).
    pub public_key: Option<Vec<u8>>,
}

pub const AUDIT_LABEL: &str = "tradeward-audit";
pub const AUDIT_ALIAS: &str = "audit";

pub struct Env {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub bin: PathBuf,
    pub tok: PathBuf,
    /// The config `init-dev` wrote (used by the `keys` commands).
    pub starter_path: PathBuf,
    starter: String,
    pub module: PathBuf,
    pub token_label: String,
    pub pin_file: PathBuf,
    pub softhsm_conf: PathBuf,
    pub keys: Vec<KeyDef>,
    /// The token's directory inside the SoftHSM token store.
    pub token_dir: PathBuf,
    /// Files of the P-256 key's objects in that directory.
    pub p256_files: Vec<String>,
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn list_dir(dir: &Path) -> Result<Vec<String>, String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

impl Env {
    pub fn new(bin: &Path, work_root: Option<&Path>) -> Result<Env, String> {
        let mut b = tempfile::Builder::new();
        b.prefix("twbench");
        let dir = match work_root {
            Some(r) => {
                std::fs::create_dir_all(r).map_err(|e| format!("{}: {e}", r.display()))?;
                b.tempdir_in(r)
            }
            None => b.tempdir(),
        }
        .map_err(|e| format!("temporary folder: {e}"))?;
        let root = dir.path().to_path_buf();
        let tok = root.join("tok");
        let out = Command::new(bin)
            .args(["token", "init-dev", "--dir"])
            .arg(&tok)
            .output()
            .map_err(|e| format!("run {}: {e}", bin.display()))?;
        if !out.status.success() {
            return Err(format!(
                "token init-dev failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let starter_path = tok.join("tradeward.toml");
        let starter = std::fs::read_to_string(&starter_path).map_err(|e| e.to_string())?;
        let cfg = tradeward::config::Config::load(&starter_path).map_err(|e| e.to_string())?;
        let softhsm_conf = cfg
            .pkcs11
            .env
            .get("SOFTHSM2_CONF")
            .map(PathBuf::from)
            .ok_or("the starter config sets no SOFTHSM2_CONF")?;
        let token_dirs = list_dir(&tok.join("tokens"))?;
        let [token_sub] = token_dirs.as_slice() else {
            return Err(format!("expected one token folder, found {token_dirs:?}"));
        };
        let mut env = Env {
            token_dir: tok.join("tokens").join(token_sub),
            _dir: dir,
            root,
            bin: bin.to_path_buf(),
            tok,
            starter_path,
            starter,
            module: cfg.pkcs11.module.clone(),
            token_label: cfg.pkcs11.token_label.clone().unwrap_or_default(),
            pin_file: cfg.pkcs11.pin_file.clone().ok_or("no pin_file")?,
            softhsm_conf,
            keys: Vec::new(),
            p256_files: Vec::new(),
        };
        let defs: [(&str, &str, &str, bool); 5] = [
            ("p256", "p256", "bench-p256", true),
            ("k1", "secp256k1", "bench-k1", true),
            ("ed", "ed25519", "bench-ed25519", true),
            ("hmac", "hmac", "bench-hmac", true),
            ("hl", "secp256k1", "bench-hl", false),
        ];
        for (alias, key_type, label, raw) in defs {
            let before = list_dir(&env.token_dir)?;
            let info = env.generate(key_type, label)?;
            if alias == "p256" {
                let after = list_dir(&env.token_dir)?;
                env.p256_files = after.into_iter().filter(|f| !before.contains(f)).collect();
            }
            let public_key = info
                .get("public_key")
                .and_then(Value::as_str)
                .map(|s| hex::decode(s.trim_start_matches("0x")))
                .transpose()
                .map_err(|e| e.to_string())?;
            env.keys.push(KeyDef {
                alias,
                key_type,
                label,
                raw_signing: raw,
                public_key,
            });
        }
        Ok(env)
    }

    fn generate(&self, key_type: &str, label: &str) -> Result<Value, String> {
        let out = Command::new(&self.bin)
            .env("TRADEWARD_CONFIG", &self.starter_path)
            .args([
                "keys", "generate", "--type", key_type, "--label", label, "--json",
            ])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "keys generate {key_type}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
    }

    pub fn key(&self, alias: &str) -> &KeyDef {
        self.keys
            .iter()
            .find(|k| k.alias == alias)
            .expect("benchmark key")
    }

    /// Write an agent config: the starter's [agent], [pkcs11], [journal],
    /// audit key and [admin] (with the socket and journal folder given
    /// here), one identity for this uid holding every benchmark key, the
    /// Hyperliquid key's venue table and a permissive policy, as
    /// tests/hyperliquid.rs configures them.
    pub fn write_agent_config(
        &self,
        path: &Path,
        socket: &Path,
        journal: &Path,
        agent_extra: &str,
    ) -> Result<(), String> {
        let head = self
            .starter
            .split("[identities.developer]")
            .next()
            .unwrap_or_default();
        let mut text = String::new();
        for line in head.lines() {
            if line.starts_with("socket = ") {
                text.push_str(&format!("socket = {:?}\n", socket.display().to_string()));
            } else if line.starts_with("dir = ") {
                text.push_str(&format!("dir = {:?}\n", journal.display().to_string()));
            } else if line == "[agent]" {
                text.push_str("[agent]\n");
                text.push_str(agent_extra);
                text.push('\n');
            } else {
                text.push_str(line);
                text.push('\n');
            }
        }
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        let aliases: Vec<String> = self.keys.iter().map(|k| format!("{:?}", k.alias)).collect();
        text.push_str(&format!(
            "\n[identities.bench]\nuids = [{uid}]\nkeys = [{}]\nops = [\"list_keys\", \"sign\", \"hyperliquid.sign_l1_action\"]\n",
            aliases.join(", ")
        ));
        for k in &self.keys {
            text.push_str(&format!(
                "\n[keys.{}]\ntype = {:?}\nlabel = {:?}\nraw_signing = {}\n",
                k.alias, k.key_type, k.label, k.raw_signing
            ));
        }
        let fixtures = fixtures_dir();
        text.push_str(&format!(
            "\n[keys.hl.hyperliquid]\nnetwork = \"mainnet\"\nmeta = {:?}\nspot_meta = {:?}\n",
            fixtures.join("meta.json").display().to_string(),
            fixtures.join("spot_meta.json").display().to_string(),
        ));
        text.push_str(
            "\n[policy.key_defaults]\nmax_leverage = 50\n[policy.key_defaults.symbols.\"*\"]\n",
        );
        write_private(path, &text)
    }
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hyperliquid")
}

/// A running `tradeward agent`.
pub struct AgentProc {
    pub child: Child,
    pub log: PathBuf,
    pub spawned: Instant,
}

/// Start the agent and wait until its socket answers. Returns it and the
/// time from spawn to "agent listening".
pub fn start_agent(
    bin: &Path,
    config: &Path,
    sock: &Path,
    log: &Path,
    timeout: Duration,
) -> Result<AgentProc, String> {
    let logf = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let spawned = Instant::now();
    let child = Command::new(bin)
        .args(["agent", "--config"])
        .arg(config)
        .env("TRADEWARD_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(logf)
        .spawn()
        .map_err(|e| format!("spawn agent: {e}"))?;
    let mut agent = AgentProc {
        child,
        log: log.to_path_buf(),
        spawned,
    };
    agent.wait_for_log("agent listening", timeout)?;
    let deadline = Instant::now() + timeout;
    while UnixStream::connect(sock).is_err() {
        if Instant::now() > deadline {
            return Err("the agent's socket does not answer".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(agent)
}

impl AgentProc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn workers(&self) -> Vec<u32> {
        procfs::children(self.pid())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until a log line contains `needle`; returns the time from the
    /// agent's spawn to when it was seen (polled every millisecond), and
    /// the line.
    pub fn wait_for_log(
        &mut self,
        needle: &str,
        timeout: Duration,
    ) -> Result<(Duration, String), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.log_text();
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return Ok((self.spawned.elapsed(), line.to_string()));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("agent exited ({status}): {}", self.log_text()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no {needle:?} in the agent's log within {timeout:?}: {}",
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGTERM, then wait for the agent and its workers to exit.
    pub fn stop(&mut self) -> Result<(), String> {
        let workers = self.workers();
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().map_err(|e| e.to_string())? {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err("the agent did not stop within 60 s of SIGTERM".into());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        wait_gone(&workers);
        if status.success() {
            Ok(())
        } else {
            Err(format!("the agent exited with {status}"))
        }
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.stop();
        }
    }
}

/// Wait (up to 10 s) until none of `pids` is alive.
pub fn wait_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(10);
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
