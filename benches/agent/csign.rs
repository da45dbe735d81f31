//! The ceiling: C_Sign called directly through tradeward's Token API, with
//! no agent in between. Each measurement runs in child processes (this
//! benchmark binary re-executed with `--child csign`), so that "one
//! process" and "N processes" are measured the same way and the PKCS#11
//! module's state never lives in the benchmark's own process.
//!
//! Protocol with a child: it opens the token, logs in, finds the key, signs
//! once, prints `ready`; the parent starts every child this way, one after
//! another (SoftHSM rewrites the token file at each login), then writes
//! `go` to all of them; each runs its warm-up and window and prints one
//! JSON line with its histogram.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use cryptoki::object::ObjectHandle;
use secrecy::SecretString;
use serde_json::{Value, json};
use tradeward::backend::pkcs11::Token;
use tradeward::backend::{KeySelector, KeyType, SignMechanism, TokenSelector};

use std::time::{Duration, Instant};

use crate::load::{CallError, Conn, Sampler, Window, closed_loop, sleep_until};
use crate::stats::{Histogram, RunResult};

/// What a child needs to reach the token.
pub struct TokenSpec {
    pub module: PathBuf,
    pub token_label: String,
    pub pin_file: PathBuf,
    pub softhsm_conf: PathBuf,
}

struct TokenConn {
    token: Token,
    key: ObjectHandle,
    mech: SignMechanism,
    data: [u8; 32],
}

impl Conn for TokenConn {
    fn call(&mut self) -> Result<(), CallError> {
        self.token
            .sign_raw(self.key, self.mech, &self.data)
            .map(|_| ())
            .map_err(|e| CallError::Remote(e.to_string()))
    }
}

/// Serialises C_Initialize/C_OpenSession/C_Login among a child's threads.
static OPEN: Mutex<()> = Mutex::new(());

fn arg<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
        .ok_or_else(|| format!("missing {name}"))
}

/// `--child csign`: run in a child process; returns the exit code.
pub fn child_main(args: &[String]) -> i32 {
    match child(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("csign child: {e}");
            1
        }
    }
}

fn child(args: &[String]) -> Result<(), String> {
    let module = PathBuf::from(arg(args, "--module")?);
    let token_label = arg(args, "--token")?.to_string();
    let pin = std::fs::read_to_string(arg(args, "--pin-file")?)
        .map_err(|e| e.to_string())?
        .trim_end()
        .to_string();
    let label = arg(args, "--key")?.to_string();
    let kt: KeyType = arg(args, "--type")?.parse()?;
    let threads: usize = arg(args, "--threads")?.parse().map_err(|_| "--threads")?;
    let warm: f64 = arg(args, "--warm")?.parse().map_err(|_| "--warm")?;
    let secs: f64 = arg(args, "--secs")?.parse().map_err(|_| "--secs")?;
    let pin = SecretString::from(pin);
    let make = |i: usize| -> Result<Box<dyn Conn>, String> {
        let _g = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        let token = Token::open(
            &module,
            &TokenSelector {
                label: Some(token_label.clone()),
                serial: None,
            },
        )
        .map_err(|e| e.to_string())?;
        token.login(&pin).map_err(|e| e.to_string())?;
        let (key, info) = token
            .find_key(&KeySelector {
                label: Some(label.clone()),
                id: None,
            })
            .map_err(|e| e.to_string())?;
        if info.key_type != kt {
            return Err(format!("{label} is a {} key, not {kt}", info.key_type));
        }
        let mut data = [0x5au8; 32];
        data[0] = i as u8;
        let mech = kt.mechanism();
        let sig = token
            .sign_raw(key, mech, &data)
            .map_err(|e| format!("first C_Sign: {e}"))?;
        let expected = match kt {
            KeyType::Hmac => 32,
            _ => 64,
        };
        if sig.len() != expected {
            return Err(format!("C_Sign returned {} bytes", sig.len()));
        }
        Ok(Box::new(TokenConn {
            token,
            key,
            mech,
            data,
        }))
    };
    let on_ready = || {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready");
        let _ = out.flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    };
    let r = closed_loop(threads, Window::new(warm, secs), make, on_ready, None);
    let v = json!({
        "secs": r.secs,
        "hist": r.hist.to_json(),
        "errors": r.errors,
        "first_error": r.first_error,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}").map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    // Stay alive until the parent has read its CPU figures and closes our
    // stdin, so our CPU time is still visible in /proc when it samples.
    let mut rest = String::new();
    let _ = std::io::stdin().lock().read_line(&mut rest);
    Ok(())
}

/// Measure C_Sign with `procs` processes of `threads` threads each.
pub fn measure(
    spec: &TokenSpec,
    key_label: &str,
    kt: KeyType,
    procs: usize,
    threads: usize,
    w: Window,
) -> Result<RunResult, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children = Vec::new();
    for _ in 0..procs {
        let mut child = Command::new(&exe)
            .args(["--child", "csign", "--module"])
            .arg(&spec.module)
            .args(["--token", &spec.token_label, "--pin-file"])
            .arg(&spec.pin_file)
            .args(["--key", key_label, "--type", kt.as_str()])
            .args(["--threads", &threads.to_string()])
            .args(["--warm", &w.warm.as_secs_f64().to_string()])
            .args(["--secs", &w.secs.as_secs_f64().to_string()])
            .env("SOFTHSM2_CONF", &spec.softhsm_conf)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn C_Sign child: {e}"))?;
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        out.read_line(&mut line).map_err(|e| e.to_string())?;
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("C_Sign child did not get ready: {line:?}"));
        }
        children.push((child, out));
    }
    for (child, _) in children.iter_mut() {
        let stdin = child.stdin.as_mut().expect("piped");
        stdin.write_all(b"go\n").map_err(|e| e.to_string())?;
        stdin.flush().map_err(|e| e.to_string())?;
    }
    // CPU of the children and of the machine during the window (the
    // children start their clock 20 ms after "go").
    let sampler = Sampler {
        server: std::process::id(),
        count_client: false,
    };
    let t0 = Instant::now() + Duration::from_millis(20);
    sleep_until(t0 + w.warm);
    let a = sampler.snap();
    sleep_until(t0 + w.warm + w.secs);
    let b = sampler.snap();
    let cpu = sampler.diff(&a, &b);
    let mut hist = Histogram::new();
    let mut errors = 0;
    let mut first_error = None;
    let mut secs = w.secs.as_secs_f64();
    for (mut child, mut out) in children {
        let mut line = String::new();
        out.read_line(&mut line).map_err(|e| e.to_string())?;
        drop(child.stdin.take());
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("C_Sign child exited with {status}"));
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| format!("{e}: {line:?}"))?;
        let h = Histogram::from_json(&v["hist"]).ok_or("bad histogram from child")?;
        hist.merge(&h);
        errors += v["errors"].as_u64().unwrap_or(0);
        if first_error.is_none() {
            first_error = v["first_error"].as_str().map(String::from);
        }
        secs = v["secs"].as_f64().unwrap_or(secs);
    }
    Ok(RunResult {
        clients: procs * threads,
        secs,
        hist,
        errors,
        first_error,
        cpu: Some(cpu),
    })
}

pub fn spec_from(module: &Path, token_label: &str, pin_file: &Path, conf: &Path) -> TokenSpec {
    TokenSpec {
        module: module.to_path_buf(),
        token_label: token_label.to_string(),
        pin_file: pin_file.to_path_buf(),
        softhsm_conf: conf.to_path_buf(),
    }
}
