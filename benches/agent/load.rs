//! Closed-loop load: N client threads, each with its own connection, each
//! sending one request and waiting for its answer before sending the next.
//! Throughput counts the requests completed inside the measurement window
//! (after a warm-up); latencies are those of the same requests.
//!
//! Also here: the two wire clients (tradeward's length-prefixed JSON, and
//! the ssh-agent protocol) and CPU accounting from /proc.

use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use crate::stats::{CpuUse, Histogram, RunResult};

/// Why one request failed: an answer that is an error (the connection
/// stays usable), or a broken connection (the client stops).
pub enum CallError {
    Remote(String),
    Io(String),
}

/// One client connection that can perform the benchmarked request.
pub trait Conn {
    fn call(&mut self) -> Result<(), CallError>;
}

/// Warm-up and measurement durations.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub warm: Duration,
    pub secs: Duration,
}

impl Window {
    pub fn new(warm_s: f64, secs: f64) -> Window {
        Window {
            warm: Duration::from_secs_f64(warm_s),
            secs: Duration::from_secs_f64(secs),
        }
    }
}

pub fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

struct ThreadOut {
    hist: Histogram,
    errors: u64,
    first_error: Option<String>,
}

/// Run `clients` closed-loop clients for `w`. `make(i)` opens client i's
/// connection on its own thread (so connections need not be `Send`).
/// `on_ready` runs once every client is connected, before the clock
/// starts (the C_Sign children use it to wait for their parent's go).
/// `sampler`, if given, reads CPU time at the window's start and end.
pub fn closed_loop<M>(
    clients: usize,
    w: Window,
    make: M,
    on_ready: impl FnOnce(),
    sampler: Option<&Sampler>,
) -> RunResult
where
    M: Fn(usize) -> Result<Box<dyn Conn>, String> + Sync,
{
    let ready = Barrier::new(clients + 1);
    let go = Barrier::new(clients + 1);
    let start: OnceLock<Instant> = OnceLock::new();
    let mut outs = Vec::with_capacity(clients);
    let mut cpu = None;
    std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(clients);
        for i in 0..clients {
            let (ready, go, start, make) = (&ready, &go, &start, &make);
            let h = std::thread::Builder::new()
                .name(format!("client-{i}"))
                .stack_size(512 * 1024)
                .spawn_scoped(s, move || {
                    let conn = make(i);
                    ready.wait();
                    go.wait();
                    let mut out = ThreadOut {
                        hist: Histogram::new(),
                        errors: 0,
                        first_error: None,
                    };
                    let mut conn = match conn {
                        Ok(c) => c,
                        Err(e) => {
                            out.errors += 1;
                            out.first_error = Some(e);
                            return out;
                        }
                    };
                    let t0 = *start.get().expect("start is set before the go barrier");
                    let warm_end = t0 + w.warm;
                    let end = warm_end + w.secs;
                    sleep_until(t0);
                    loop {
                        let a = Instant::now();
                        let r = conn.call();
                        let b = Instant::now();
                        let inside = b >= warm_end && b < end;
                        match r {
                            Ok(()) => {
                                if inside {
                                    out.hist.record((b - a).as_nanos() as u64);
                                }
                            }
                            Err(CallError::Remote(m)) => {
                                if inside {
                                    out.errors += 1;
                                }
                                out.first_error.get_or_insert(m);
                            }
                            Err(CallError::Io(m)) => {
                                out.errors += 1;
                                out.first_error.get_or_insert(m);
                                break;
                            }
                        }
                        if b >= end {
                            break;
                        }
                    }
                    out
                })
                .expect("spawn client thread");
            handles.push(h);
        }
        ready.wait();
        on_ready();
        let t0 = Instant::now() + Duration::from_millis(20);
        start.set(t0).expect("set once");
        go.wait();
        if let Some(sm) = sampler {
            sleep_until(t0 + w.warm);
            let a = sm.snap();
            sleep_until(t0 + w.warm + w.secs);
            let b = sm.snap();
            cpu = Some(sm.diff(&a, &b));
        }
        for h in handles {
            outs.push(h.join().expect("client thread panicked"));
        }
    });
    let mut hist = Histogram::new();
    let mut errors = 0;
    let mut first_error = None;
    for o in outs {
        hist.merge(&o.hist);
        errors += o.errors;
        if first_error.is_none() {
            first_error = o.first_error;
        }
    }
    RunResult {
        clients,
        secs: w.secs.as_secs_f64(),
        hist,
        errors,
        first_error,
        cpu,
    }
}

fn io(e: std::io::Error) -> CallError {
    CallError::Io(e.to_string())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn excerpt(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    s.chars().take(300).collect()
}

/// A tradeward client that sends one prebuilt request over and over.
pub struct TwConn {
    rd: BufReader<UnixStream>,
    wr: UnixStream,
    frame: Vec<u8>,
    body: Vec<u8>,
}

impl TwConn {
    pub fn connect(sock: &Path, payload: &str) -> Result<TwConn, String> {
        let s =
            UnixStream::connect(sock).map_err(|e| format!("connect {}: {e}", sock.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        let wr = s.try_clone().map_err(|e| e.to_string())?;
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(payload.as_bytes());
        Ok(TwConn {
            rd: BufReader::with_capacity(16 * 1024, s),
            wr,
            frame,
            body: Vec::with_capacity(4096),
        })
    }

    /// Send the request and return the raw answer.
    pub fn roundtrip(&mut self) -> Result<&[u8], CallError> {
        self.wr.write_all(&self.frame).map_err(io)?;
        let mut len = [0u8; 4];
        self.rd.read_exact(&mut len).map_err(io)?;
        let len = u32::from_be_bytes(len) as usize;
        self.body.resize(len, 0);
        self.rd.read_exact(&mut self.body).map_err(io)?;
        Ok(&self.body)
    }
}

impl Conn for TwConn {
    fn call(&mut self) -> Result<(), CallError> {
        let body = self.roundtrip()?;
        if contains(body, b"\"ok\":true") {
            Ok(())
        } else {
            Err(CallError::Remote(excerpt(body)))
        }
    }
}

/// ssh-agent protocol message numbers (draft-miller-ssh-agent).
pub const SSH_AGENT_FAILURE: u8 = 5;
pub const SSH2_AGENTC_REQUEST_IDENTITIES: u8 = 11;
pub const SSH2_AGENT_IDENTITIES_ANSWER: u8 = 12;
pub const SSH2_AGENTC_SIGN_REQUEST: u8 = 13;
pub const SSH2_AGENT_SIGN_RESPONSE: u8 = 14;

pub fn put_string(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(&(s.len() as u32).to_be_bytes());
    buf.extend_from_slice(s);
}

pub fn get_u32(b: &mut &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let v = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    *b = &b[4..];
    Some(v)
}

pub fn get_string<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let n = get_u32(b)? as usize;
    if b.len() < n {
        return None;
    }
    let (s, rest) = b.split_at(n);
    *b = rest;
    Some(s)
}

/// An ssh-agent client. One message: `uint32 length, byte type, payload`.
pub struct SshConn {
    rd: BufReader<UnixStream>,
    wr: UnixStream,
    frame: Vec<u8>,
    body: Vec<u8>,
}

impl SshConn {
    pub fn connect(sock: &Path) -> Result<SshConn, String> {
        let s =
            UnixStream::connect(sock).map_err(|e| format!("connect {}: {e}", sock.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        let wr = s.try_clone().map_err(|e| e.to_string())?;
        Ok(SshConn {
            rd: BufReader::with_capacity(16 * 1024, s),
            wr,
            frame: Vec::new(),
            body: Vec::new(),
        })
    }

    /// Send one message (type and payload) and read the answer (type
    /// first).
    pub fn exchange(&mut self, kind: u8, payload: &[u8]) -> Result<Vec<u8>, String> {
        let mut msg = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
        msg.push(kind);
        msg.extend_from_slice(payload);
        self.wr.write_all(&msg).map_err(|e| e.to_string())?;
        self.read_answer().map_err(|e| match e {
            CallError::Io(m) | CallError::Remote(m) => m,
        })?;
        Ok(self.body.clone())
    }

    fn read_answer(&mut self) -> Result<(), CallError> {
        let mut len = [0u8; 4];
        self.rd.read_exact(&mut len).map_err(io)?;
        let len = u32::from_be_bytes(len) as usize;
        self.body.resize(len, 0);
        self.rd.read_exact(&mut self.body).map_err(io)?;
        Ok(())
    }

    /// The identities the agent holds: (key blob, comment).
    pub fn identities(&mut self) -> Result<Vec<(Vec<u8>, String)>, String> {
        let body = self.exchange(SSH2_AGENTC_REQUEST_IDENTITIES, &[])?;
        let mut b: &[u8] = &body;
        if b.first() != Some(&SSH2_AGENT_IDENTITIES_ANSWER) {
            return Err(format!("unexpected answer type {:?}", b.first()));
        }
        b = &b[1..];
        let n = get_u32(&mut b).ok_or("short identities answer")?;
        let mut out = Vec::new();
        for _ in 0..n {
            let blob = get_string(&mut b).ok_or("short identities answer")?;
            let comment = get_string(&mut b).ok_or("short identities answer")?;
            out.push((blob.to_vec(), String::from_utf8_lossy(comment).into_owned()));
        }
        Ok(out)
    }

    /// Prepare the sign request that `call` repeats.
    pub fn set_sign_request(&mut self, blob: &[u8], data: &[u8]) {
        let mut payload = vec![SSH2_AGENTC_SIGN_REQUEST];
        put_string(&mut payload, blob);
        put_string(&mut payload, data);
        payload.extend_from_slice(&0u32.to_be_bytes());
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&payload);
        self.frame = frame;
    }

    /// The last answer's body.
    pub fn last(&self) -> &[u8] {
        &self.body
    }
}

impl Conn for SshConn {
    fn call(&mut self) -> Result<(), CallError> {
        self.wr.write_all(&self.frame).map_err(io)?;
        self.read_answer()?;
        match self.body.first() {
            Some(&SSH2_AGENT_SIGN_RESPONSE) => Ok(()),
            Some(&SSH_AGENT_FAILURE) => Err(CallError::Remote("SSH_AGENT_FAILURE".into())),
            other => Err(CallError::Remote(format!(
                "unexpected answer type {other:?}"
            ))),
        }
    }
}

/// /proc readers.
pub mod procfs {
    /// Fields after the parenthesised command of /proc/PID/stat (field 3
    /// onwards).
    fn stat_fields(pid: u32) -> Option<Vec<String>> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = stat.rsplit_once(") ")?.1;
        Some(rest.split(' ').map(String::from).collect())
    }

    /// utime + stime, in clock ticks.
    pub fn cpu_ticks(pid: u32) -> u64 {
        stat_fields(pid)
            .map(|f| {
                let u: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
                let s: u64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
                u + s
            })
            .unwrap_or(0)
    }

    /// Live (not zombie) children of `pid`.
    pub fn children(pid: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return out;
        };
        for entry in rd.flatten() {
            let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Some(f) = stat_fields(p) else { continue };
            if f.first().map(String::as_str) == Some("Z") {
                continue;
            }
            if f.get(1).and_then(|v| v.parse::<u32>().ok()) == Some(pid) {
                out.push(p);
            }
        }
        out.sort();
        out
    }

    /// A `kB` field of /proc/PID/status (VmRSS, VmHWM, ...), in KiB.
    pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        kib_field(&text, field)
    }

    /// Proportional set size (shared pages divided among their users).
    pub fn pss_kib(pid: u32) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
        kib_field(&text, "Pss")
    }

    fn kib_field(text: &str, field: &str) -> Option<u64> {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
    }

    /// Busy ticks of all cores together (user, nice, system, irq,
    /// softirq, steal) and the steal part, from /proc/stat.
    pub fn machine_busy_ticks() -> (u64, u64) {
        let Ok(text) = std::fs::read_to_string("/proc/stat") else {
            return (0, 0);
        };
        let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
            return (0, 0);
        };
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal
        (at(0) + at(1) + at(2) + at(5) + at(6) + at(7), at(7))
    }

    pub fn clock_ticks_per_sec() -> f64 {
        // SAFETY: sysconf has no preconditions.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 { t as f64 } else { 100.0 }
    }
}

/// Reads CPU time of a server process, its children, this process (the
/// load generator) and the whole machine.
pub struct Sampler {
    pub server: u32,
    /// Whether this process is a separate load generator (false when the
    /// server is this process itself, as for the C_Sign children).
    pub count_client: bool,
}

pub struct Snap {
    server: u64,
    children: u64,
    client: u64,
    machine_busy: u64,
    steal: u64,
}

impl Sampler {
    pub fn new(server: u32) -> Sampler {
        Sampler {
            server,
            count_client: true,
        }
    }

    pub fn snap(&self) -> Snap {
        let (machine_busy, steal) = procfs::machine_busy_ticks();
        Snap {
            server: procfs::cpu_ticks(self.server),
            children: procfs::children(self.server)
                .into_iter()
                .map(procfs::cpu_ticks)
                .sum(),
            client: if self.count_client {
                procfs::cpu_ticks(std::process::id())
            } else {
                0
            },
            machine_busy,
            steal,
        }
    }

    pub fn diff(&self, a: &Snap, b: &Snap) -> CpuUse {
        let hz = procfs::clock_ticks_per_sec();
        let d = |x: u64, y: u64| y.saturating_sub(x) as f64 / hz;
        let (agent_s, workers_s, client_s) = (
            d(a.server, b.server),
            d(a.children, b.children),
            d(a.client, b.client),
        );
        let machine_s = d(a.machine_busy, b.machine_busy);
        CpuUse {
            agent_s,
            workers_s,
            client_s,
            machine_s,
            other_s: (machine_s - agent_s - workers_s - client_s).max(0.0),
            steal_s: d(a.steal, b.steal),
        }
    }
}

/// Machine-wide busy CPU over `dur`, as a share of one core (100 = one
/// core busy).
pub fn machine_busy_pct(dur: Duration) -> f64 {
    let hz = procfs::clock_ticks_per_sec();
    let (a, _) = procfs::machine_busy_ticks();
    std::thread::sleep(dur);
    let (b, _) = procfs::machine_busy_ticks();
    100.0 * b.saturating_sub(a) as f64 / hz / dur.as_secs_f64()
}
