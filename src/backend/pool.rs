//! The pool of signing workers, as seen from the agent.
//!
//! Each worker slot is a task that owns one child process. Jobs arrive on a
//! shared queue; an idle slot takes the next one, sends it down its pipe and
//! waits for the answer. If the child dies or hangs, the job in flight fails
//! with a retryable `WorkerUnavailable` (it was not signed, or the signature
//! was lost before anyone saw it) and the slot starts a new child.
//!
//! A login failure is never retried automatically: repeated wrong PINs lock
//! tokens, so a slot whose child reports a login error stops.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::io::BufReader;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::worker::{FromWorker, InitParams, MAX_WORKER_FRAME, ToWorker};
use super::{BackendError, KeyInfo, KeySelector, KeyType, TokenIdentity, TokenSelector};
use crate::frame::ReadFrame;

/// What the pool needs to start workers.
#[derive(Clone)]
pub struct PoolConfig {
    /// The program to run as `PROGRAM worker` (the tradeward binary).
    pub program: PathBuf,
    pub module: PathBuf,
    /// Extra environment for the module (e.g. SOFTHSM2_CONF).
    pub module_env: Vec<(String, String)>,
    pub token: TokenSelector,
    pub pin: Arc<SecretString>,
    pub keys: Vec<KeySelector>,
    pub workers: usize,
    /// How long one signature may take before the worker is presumed hung.
    pub sign_timeout: Duration,
}

/// What a job asks of a worker.
enum Work {
    Sign { key: u32, data: Vec<u8> },
    Find(KeySelector),
    Generate { key_type: KeyType, label: String },
    Destroy(KeySelector),
}

/// What a worker answered.
enum Done {
    Signature(Vec<u8>),
    Key(KeyInfo),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, BackendError>>,
}

/// Handle to the running pool. Cheap to clone.
#[derive(Clone)]
pub struct WorkerPool {
    tx: mpsc::Sender<Job>,
    live: Arc<AtomicUsize>,
    /// Worker slots still trying to keep a worker up.
    slots: Arc<AtomicUsize>,
    sign_timeout: Duration,
    /// The key table every worker follows: the configured keys, then each
    /// key added by a rotation. A worker that knows fewer keys is brought
    /// up to date (`AddKey`) before its next job.
    table: Arc<std::sync::RwLock<Vec<KeySelector>>>,
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// How many entries of the key table this worker has.
    known: usize,
}

/// One frame, length and body, in one `write`: the worker wakes once per
/// message instead of once per piece. The buffer is wiped after: it may
/// carry the PIN (`Init`).
async fn write_msg(stdin: &mut ChildStdin, msg: &ToWorker) -> std::io::Result<()> {
    let frame = crate::frame::encode_with(|buf| {
        postcard::to_io(msg, buf)
            .map(drop)
            .map_err(std::io::Error::other)
    })?;
    crate::frame::write_encoded_async(stdin, &frame).await
}

/// Read one frame. `stdout` is buffered, so a reply's length and body
/// normally come in with one `read`.
async fn read_msg(stdout: &mut BufReader<ChildStdout>) -> std::io::Result<FromWorker> {
    match crate::frame::read_async(stdout, MAX_WORKER_FRAME).await? {
        ReadFrame::Frame(buf) => postcard::from_bytes(&buf).map_err(std::io::Error::other),
        ReadFrame::Closed => Err(std::io::ErrorKind::UnexpectedEof.into()),
        ReadFrame::TooLarge(_) => Err(std::io::Error::other("worker frame over the limit")),
    }
}

/// Start one worker and wait until it has logged in and found the keys.
async fn spawn(
    cfg: &PoolConfig,
    table: &Arc<std::sync::RwLock<Vec<KeySelector>>>,
) -> Result<(Running, Vec<KeyInfo>, TokenIdentity, u32), BackendError> {
    let mut cmd = Command::new(&cfg.program);
    cmd.env(
        crate::logging::FORMAT_ENV,
        crate::logging::format().as_str(),
    );
    cmd.arg("worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Not kill_on_drop: a SIGKILL during the worker's login could leave
        // SoftHSM's token file empty (see harden::defer_termination). A
        // dropped worker sees its stdin close and exits by itself.
        .kill_on_drop(false);
    for (k, v) in &cfg.module_env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| BackendError::WorkerUnavailable(format!("cannot start worker: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = BufReader::with_capacity(4096, child.stdout.take().expect("piped"));
    let init = ToWorker::Init(InitParams {
        module: cfg.module.clone(),
        token: cfg.token.clone(),
        pin: cfg.pin.expose_secret().as_bytes().to_vec(),
        keys: table.read().expect("key table").clone(),
    });
    let unavailable =
        |e: std::io::Error| BackendError::WorkerUnavailable(format!("worker start: {e}"));
    write_msg(&mut stdin, &init).await.map_err(unavailable)?;
    drop(init);
    let reply = tokio::time::timeout(Duration::from_secs(60), read_msg(&mut stdout))
        .await
        .map_err(|_| BackendError::WorkerUnavailable("worker did not start within 60 s".into()))?
        .map_err(unavailable)?;
    match reply {
        FromWorker::Ready { keys, token, pid } => Ok((
            Running {
                child,
                stdin,
                stdout,
                known: keys.len(),
            },
            keys,
            token,
            pid,
        )),
        FromWorker::InitFailed(e) => Err(e),
        other => Err(BackendError::WorkerUnavailable(format!(
            "unexpected worker reply {other:?}"
        ))),
    }
}

impl WorkerPool {
    /// Start the pool. The first worker is started here so that a wrong PIN,
    /// a missing token or a missing key stops the agent's start with a clear
    /// error; the returned key infos and token identity come from that
    /// worker.
    pub async fn start(
        cfg: PoolConfig,
    ) -> Result<(WorkerPool, Vec<KeyInfo>, TokenIdentity), BackendError> {
        let workers = cfg.workers.max(1);
        let table = Arc::new(std::sync::RwLock::new(cfg.keys.clone()));
        let (first, keys, token, pid) = spawn(&cfg, &table).await?;
        tracing::info!(slot = 0, pid, "signing worker started");
        let (tx, rx) = mpsc::channel::<Job>(1024);
        let rx = Arc::new(Mutex::new(rx));
        let live = Arc::new(AtomicUsize::new(0));
        let slots = Arc::new(AtomicUsize::new(workers));
        let sign_timeout = cfg.sign_timeout;
        let mut first = Some(first);
        for slot in 0..workers {
            let cfg = cfg.clone();
            let rx = rx.clone();
            let live = live.clone();
            let initial = first.take();
            let slots = slots.clone();
            let table = table.clone();
            tokio::spawn(async move {
                run_slot(slot, cfg, table, rx.clone(), live, initial).await;
                if slots.fetch_sub(1, Ordering::Relaxed) == 1 {
                    // The last slot gave up: answer everything still queued
                    // now rather than at its timeout.
                    let mut q = rx.lock().await;
                    while let Ok(job) = q.try_recv() {
                        let _ = job.reply.send(Err(BackendError::Stopped(
                            "no signing worker is running: they could not log in to the token"
                                .into(),
                        )));
                    }
                }
            });
        }
        Ok((
            WorkerPool {
                tx,
                live,
                slots,
                sign_timeout,
                table,
            },
            keys,
            token,
        ))
    }

    /// Sign `data` with key number `key` on some worker. Fails fast when
    /// every worker slot has given up (e.g. the PIN stopped working), and
    /// gives up waiting after `2 × sign_timeout` in any case, so a caller is
    /// never left hanging.
    pub async fn sign(&self, key: u32, data: Vec<u8>) -> Result<Vec<u8>, BackendError> {
        match self.run(Work::Sign { key, data }).await? {
            Done::Signature(s) => Ok(s),
            Done::Key(_) => Err(BackendError::WorkerUnavailable(
                "unexpected worker reply".into(),
            )),
        }
    }

    async fn key_job(&self, work: Work) -> Result<KeyInfo, BackendError> {
        match self.run(work).await? {
            Done::Key(k) => Ok(k),
            Done::Signature(_) => Err(BackendError::WorkerUnavailable(
                "unexpected worker reply".into(),
            )),
        }
    }

    /// Describe a key on the token (without adding it to the table).
    pub async fn find(&self, sel: KeySelector) -> Result<KeyInfo, BackendError> {
        self.key_job(Work::Find(sel)).await
    }

    /// Generate a key on the token.
    pub async fn generate(
        &self,
        key_type: KeyType,
        label: String,
    ) -> Result<KeyInfo, BackendError> {
        self.key_job(Work::Generate { key_type, label }).await
    }

    /// Destroy a key's objects on the token.
    pub async fn destroy(&self, sel: KeySelector) -> Result<KeyInfo, BackendError> {
        self.key_job(Work::Destroy(sel)).await
    }

    /// Add a key to the table every worker follows; returns its index.
    /// Check it exists first (`find`): a worker that cannot resolve it
    /// fails the jobs that need it until it can.
    pub fn add_key(&self, sel: KeySelector) -> u32 {
        let mut t = self.table.write().expect("key table");
        t.push(sel);
        (t.len() - 1) as u32
    }

    async fn run(&self, work: Work) -> Result<Done, BackendError> {
        if self.slots.load(Ordering::Relaxed) == 0 {
            return Err(BackendError::Stopped(
                "no signing worker is running: they could not log in to the token (see the agent's log); restart the agent once the PIN is fixed".into(),
            ));
        }
        let (reply, rx) = oneshot::channel();
        let wait = async {
            self.tx
                .send(Job { work, reply })
                .await
                .map_err(|_| BackendError::WorkerUnavailable("worker pool stopped".into()))?;
            rx.await
                .map_err(|_| BackendError::WorkerUnavailable("worker pool stopped".into()))?
        };
        match tokio::time::timeout(self.sign_timeout * 2, wait).await {
            Ok(r) => r,
            Err(_) => Err(BackendError::WorkerUnavailable(
                "no signing worker answered in time; not signed, retry".into(),
            )),
        }
    }

    /// How many workers are currently up.
    pub fn live_workers(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }
}

async fn run_slot(
    slot: usize,
    cfg: PoolConfig,
    table: Arc<std::sync::RwLock<Vec<KeySelector>>>,
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    live: Arc<AtomicUsize>,
    mut initial: Option<Running>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let mut running = match initial.take() {
            Some(r) => r,
            None => match spawn(&cfg, &table).await {
                Ok((r, _, _, pid)) => {
                    tracing::info!(slot, pid, "signing worker started");
                    backoff = Duration::from_millis(50);
                    r
                }
                Err(BackendError::Login(msg)) => {
                    tracing::error!(slot, error = %msg, "worker login failed; not retrying (PIN lockout risk)");
                    return;
                }
                Err(e) => {
                    tracing::warn!(slot, error = %e, ?backoff, "worker failed to start; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        live.fetch_add(1, Ordering::Relaxed);
        serve(&cfg, &table, &rx, &mut running).await;
        live.fetch_sub(1, Ordering::Relaxed);
        let status = stop_worker(running).await;
        // Restart at once. (Not after taking the queue's lock: an idle
        // sibling holds it while it waits for work, which could delay the
        // restart until the next request.)
        tracing::warn!(slot, ?status, "signing worker exited; restarting");
        crate::metrics::get().worker_restarts.inc();
    }
}

/// Stop a worker that failed or hung: close its pipe and send SIGTERM
/// (which it holds off while logging in), and SIGKILL only if it is still
/// there 10 s later — a module stuck inside a call.
async fn stop_worker(running: Running) -> std::io::Result<std::process::ExitStatus> {
    let Running {
        mut child, stdin, ..
    } = running;
    drop(stdin);
    if let Some(pid) = child.id() {
        // Our own child, which we have not reaped, so the pid is still its.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await
        }
    }
}

/// Serve jobs until the worker fails (or the queue closes).
async fn serve(
    cfg: &PoolConfig,
    table: &Arc<std::sync::RwLock<Vec<KeySelector>>>,
    rx: &Mutex<mpsc::Receiver<Job>>,
    running: &mut Running,
) {
    loop {
        let job = {
            let mut guard = rx.lock().await;
            tokio::select! {
                job = guard.recv() => job,
                // A worker that dies while idle is noticed here, not on the
                // next request.
                status = running.child.wait() => {
                    tracing::warn!(?status, "idle signing worker died");
                    return;
                }
            }
        };
        let Some(job) = job else { return };
        // Bring the worker's key table up to date (a rotation added keys).
        let missing: Vec<KeySelector> = {
            let t = table.read().expect("key table");
            t.get(running.known..)
                .map(<[KeySelector]>::to_vec)
                .unwrap_or_default()
        };
        for sel in missing {
            let exchange = async {
                write_msg(&mut running.stdin, &ToWorker::AddKey(sel)).await?;
                read_msg(&mut running.stdout).await
            };
            match tokio::time::timeout(cfg.sign_timeout, exchange).await {
                Ok(Ok(FromWorker::Key(_))) => running.known += 1,
                Ok(Ok(FromWorker::Failed(e))) => {
                    tracing::warn!(error = %e, "worker could not load a rotated key");
                    break;
                }
                _ => {
                    let _ = job.reply.send(Err(BackendError::WorkerUnavailable(
                        "signing worker failed while loading keys; not signed, retry".into(),
                    )));
                    return;
                }
            }
        }
        let msg = match job.work {
            Work::Sign { key, .. } if key as usize >= running.known => {
                let _ = job.reply.send(Err(BackendError::KeyNotFound(format!(
                    "key #{key} could not be loaded by the worker"
                ))));
                continue;
            }
            Work::Sign { key, data } => ToWorker::Sign { key, data },
            Work::Find(sel) => ToWorker::Find(sel),
            Work::Generate { key_type, label } => ToWorker::Generate { key_type, label },
            Work::Destroy(sel) => ToWorker::Destroy(sel),
        };
        let exchange = async {
            write_msg(&mut running.stdin, &msg).await?;
            read_msg(&mut running.stdout).await
        };
        let result = match tokio::time::timeout(cfg.sign_timeout, exchange).await {
            Ok(Ok(FromWorker::Signed(sig))) => Ok(Done::Signature(sig)),
            Ok(Ok(FromWorker::Key(info))) => Ok(Done::Key(info)),
            Ok(Ok(FromWorker::Failed(e))) => Err(e),
            Ok(Ok(other)) => {
                let _ = job.reply.send(Err(BackendError::WorkerUnavailable(format!(
                    "unexpected worker reply {other:?}"
                ))));
                return;
            }
            Ok(Err(e)) => {
                let _ = job.reply.send(Err(BackendError::WorkerUnavailable(format!(
                    "signing worker failed mid-request ({e}); not signed, retry"
                ))));
                return;
            }
            Err(_) => {
                let _ = job.reply.send(Err(BackendError::WorkerUnavailable(format!(
                    "signing worker did not answer within {:?}; not signed, retry",
                    cfg.sign_timeout
                ))));
                return;
            }
        };
        let _ = job.reply.send(result);
    }
}
