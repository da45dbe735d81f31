//! `tradeward agent`: start-up checks, the worker pool, the keyring
//! self-test, the socket, and an orderly stop on SIGTERM.
//!
//! Start-up is all-or-nothing: a config that others can write, a module
//! outside the allow-list, a wrong PIN, a missing or extractable key, or a
//! failed self-test stops the agent before the socket exists, so a bot can
//! never reach a half-configured agent.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::backend::pkcs11::check_module_path;
use crate::backend::pool::{PoolConfig, WorkerPool};
use crate::config::Config;
use crate::keyring::Keyring;
use crate::secret::{PinSource, read_pin};
use crate::server::{self, AgentState};

/// Run the agent until SIGTERM/SIGINT. `check_only` stops after the
/// start-up checks (keys found, attributes and self-test good).
pub fn run(config_path: &Path, check_only: bool) -> Result<(), String> {
    crate::harden::process_hardening();
    crate::harden::raise_fd_limit();
    let cfg = Config::load(config_path).map_err(|e| e.to_string())?;
    let module = check_module_path(&cfg.pkcs11.module, &cfg.pkcs11.allowed_module_dirs)
        .map_err(|e| e.to_string())?;
    // Read the PIN before any thread exists (an env PIN is removed from the
    // environment so workers and other children never inherit it).
    let pin = match (&cfg.pkcs11.pin_file, &cfg.pkcs11.pin_env) {
        (Some(f), _) => read_pin(PinSource::File(f)),
        (None, Some(v)) => read_pin(PinSource::Env(v)),
        (None, None) => read_pin(PinSource::Prompt),
    }?;
    let workers = cfg.agent.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let mut selectors = Vec::new();
    for alias in cfg.keys.keys() {
        selectors.push(cfg.key_selector(alias)?);
    }
    let pool_cfg = PoolConfig {
        program: std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?,
        module,
        module_env: cfg
            .pkcs11
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        token: cfg.token_selector(),
        pin: Arc::new(pin),
        keys: selectors,
        workers,
        sign_timeout: Duration::from_millis(cfg.agent.sign_timeout_ms),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?;
    rt.block_on(async move {
        let (pool, infos) = WorkerPool::start(pool_cfg)
            .await
            .map_err(|e| format!("cannot open the token: {e}"))?;
        let keyring = Keyring::new(&cfg, infos, pool)?;
        for e in keyring.entries() {
            tracing::info!(key = %e.alias, r#type = %e.info.key_type, uri = %e.info.uri(),
                address = e.info.eth_address().unwrap_or_default(), local = e.info.local, "key loaded");
        }
        if cfg.agent.self_test {
            keyring.self_test().await?;
            tracing::info!(keys = keyring.entries().len(), "self-test passed");
        }
        if check_only {
            println!("config and keys OK ({} keys, self-test passed)", keyring.entries().len());
            return Ok(());
        }
        let socket_path = cfg.agent.socket.clone();
        let listener = server::socket::bind(&socket_path, cfg.agent.socket_group.as_deref())?;
        tracing::info!(socket = %socket_path.display(), workers, pid = std::process::id(), "agent listening");
        let state = Arc::new(AgentState {
            config: cfg,
            keyring,
            started: std::time::Instant::now(),
        });
        let shutdown = CancellationToken::new();
        let stopper = shutdown.clone();
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: draining"),
                _ = int.recv() => tracing::info!("SIGINT: draining"),
            }
            stopper.cancel();
        });
        server::serve(listener, state, shutdown).await;
        let _ = std::fs::remove_file(&socket_path);
        tracing::info!("agent stopped");
        Ok(())
    })
}
