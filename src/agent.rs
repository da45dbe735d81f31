//! `tradeward agent`: start-up checks, the journal, the worker pool, the
//! keyring self-test, the socket, checkpoints, and an orderly stop on
//! SIGTERM.
//!
//! Start-up is all-or-nothing: a config that others can write, a module
//! outside the allow-list, a damaged journal, a wrong PIN, a missing or
//! extractable key, or a failed self-test stops the agent before the socket
//! exists, so a bot can never reach a half-configured agent.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::backend::pkcs11::check_module_path;
use crate::backend::pool::{PoolConfig, WorkerPool};
use crate::config::Config;
use crate::journal::checkpoint::write_checkpoint;
use crate::journal::{Event, Journal, KeySummary};
use crate::keyring::{Keyring, SignInput};
use crate::protocol::to_hex;
use crate::secret::{PinSource, read_pin};
use crate::server::{self, AgentState};

/// Run the agent until SIGTERM/SIGINT. `check_only` stops after the
/// start-up checks (journal readable, keys found, attributes and self-test
/// good) without writing to the journal or listening.
pub fn run(config_path: &Path, check_only: bool) -> Result<(), String> {
    crate::harden::process_hardening();
    crate::harden::raise_fd_limit();
    let cfg = Config::load(config_path).map_err(|e| e.to_string())?;
    let config_sha256 = hex::encode(Sha256::digest(
        std::fs::read(config_path).unwrap_or_default(),
    ));
    let module = check_module_path(&cfg.pkcs11.module, &cfg.pkcs11.allowed_module_dirs)
        .map_err(|e| e.to_string())?;
    // Read the PIN before any thread exists (an env PIN is removed from the
    // environment so workers and other children never inherit it).
    let pin = match (&cfg.pkcs11.pin_file, &cfg.pkcs11.pin_env) {
        (Some(f), _) => read_pin(PinSource::File(f)),
        (None, Some(v)) => read_pin(PinSource::Env(v)),
        (None, None) => read_pin(PinSource::Prompt),
    }?;
    // YubiKey PINs too, for every device a served key lives on.
    let mut piv_pins = std::collections::BTreeMap::new();
    for (name, y) in &cfg.yubikeys {
        if !cfg
            .keys
            .values()
            .any(|k| k.yubikey.as_deref() == Some(name.as_str()))
        {
            continue;
        }
        let pin = match (&y.pin_file, &y.pin_env) {
            (Some(f), _) => read_pin(PinSource::File(f)),
            (None, Some(v)) => read_pin(PinSource::Env(v)),
            (None, None) => read_pin(PinSource::Prompt),
        }
        .map_err(|e| format!("yubikeys.{name}: {e}"))?;
        piv_pins.insert(name.clone(), pin);
    }
    // The cluster's database URL, read (and taken out of the environment)
    // before any thread exists.
    let cluster = cfg
        .cluster
        .clone()
        .map(crate::cluster::Cluster::new)
        .transpose()
        .map_err(|e| e.to_string())?;
    let workers = cfg.agent.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let mut pool_cfg = PoolConfig {
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
        // Set after the journal replay: rotations and zeroisations there
        // decide which token key each alias uses.
        keys: Vec::new(),
        workers,
        sign_timeout: Duration::from_millis(cfg.agent.sign_timeout_ms),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?;
    rt.block_on(async move {
        // With [cluster], the shared database must answer with this
        // build's schema before the agent serves anything; it says how far
        // this agent's journal must reach (the off-host anchor).
        let mut anchor = crate::cluster::anchor::AnchorCheck::default();
        if let Some(c) = &cluster {
            anchor = crate::cluster::anchor::AnchorCheck::new(
                c.check_at_start().await.map_err(|e| e.to_string())?,
            );
            tracing::info!(cluster = %c.config().name, agent = %c.config().agent_id, "cluster database checked");
        }
        // The journal first: state comes from it, and a damaged journal
        // stops the start before anything else happens.
        let mut replayed = 0u64;
        let policy = crate::policy::Policy::from_config(cfg.policy.clone()).map_err(|e| format!("policy: {e}"))?;
        let mut decision_state = crate::state::State::new(policy, cfg.deadman.halted_allows_reducing);
        decision_state.policy_sha256 = std::fs::read_to_string(config_path)
            .map_err(|e| e.to_string())
            .and_then(|t| server::ops::admin::policy_sha256(&t))
            .map_err(|e| format!("policy: {e}"))?;
        let (journal, report) = if check_only {
            let summary = crate::journal::segment::scan(&cfg.journal.dir, &mut |rec, _| {
                replayed += 1;
                anchor.see(rec);
            })
            .map_err(|e| format!("{e}\nRun `tradeward journal verify` for details."))?;
            if let Some(c) = &cluster {
                anchor.finish(&summary.head, &c.config().name)?;
            }
            crate::out::stdout_fmt(format_args!("journal OK ({} records)\n", summary.records));
            (None, None)
        } else {
            let (j, r) = Journal::open(
                &cfg.journal.dir,
                cfg.journal.segment_bytes,
                cfg.journal.checkpoint_every,
                &mut |rec| {
                    replayed += 1;
                    anchor.see(rec);
                    decision_state.replay(rec);
                },
            )
            .map_err(|e| e.to_string())?;
            if let Some(c) = &cluster {
                let head = j.head().await.map(|a| a.hash).unwrap_or(crate::journal::record::GENESIS);
                anchor.finish(&head, &c.config().name)?;
            }
            (Some(j), Some(r))
        };
        // With [cluster]: the other agents' recent decisions and every
        // operator event of the cluster, before anything is judged.
        if let Some(c) = &cluster {
            let n = c
                .first_catch_up(crate::journal::record::now_ms(), &mut |rec| decision_state.replay(rec))
                .await
                .map_err(|e| format!("cannot catch up with the cluster: {e}"))?;
            tracing::info!(records = n, "caught up with the cluster");
        }
        let mut served = Vec::new();
        let mut piv_served = Vec::new();
        let mut piv_devices: std::collections::BTreeMap<String, crate::backend::piv::PivHandle> =
            std::collections::BTreeMap::new();
        for (alias, kc) in &cfg.keys {
            if decision_state.keys.zeroized.contains(alias) {
                tracing::warn!(key = %alias, "key was zeroized; not served (remove it from the config)");
                continue;
            }
            if let (Some(dev), Some((y, slot))) = (&kc.yubikey, cfg.piv_location(alias)) {
                if !piv_devices.contains_key(dev) {
                    let pin = piv_pins.remove(dev).ok_or_else(|| format!("yubikeys.{dev}: no PIN read"))?;
                    let (serial, timeout) = (y.serial, Duration::from_millis(y.sign_timeout_ms));
                    let handle = tokio::task::spawn_blocking(move || {
                        crate::backend::piv::PivHandle::start(serial, pin, timeout)
                    })
                    .await
                    .map_err(|e| format!("yubikeys.{dev}: {e}"))?
                    .map_err(|e| format!("cannot open YubiKey {dev:?} (serial {serial}): {e}"))?;
                    piv_devices.insert(dev.clone(), handle);
                }
                let handle = piv_devices[dev].clone();
                let info = handle
                    .describe(slot)
                    .await
                    .map_err(|e| format!("keys.{alias}: {e}"))?
                    .ok_or_else(|| format!(
                        "keys.{alias}: slot {slot} of YubiKey {} is empty (generate a key there with \
                         `tradeward keys generate --backend yubikey --slot {slot}`)", y.serial))?;
                piv_served.push((alias.clone(), kc.clone(), info, crate::keyring::KeySource::Piv(handle)));
                continue;
            }
            let sel = match decision_state.keys.current(alias) {
                Some(k) => k.selector(),
                None => cfg.key_selector(alias)?,
            };
            pool_cfg.keys.push(sel);
            served.push((alias.clone(), kc.clone()));
        }
        let (pool, infos, mut token) = WorkerPool::start(pool_cfg)
            .await
            .map_err(|e| format!("cannot open the token: {e}"))?;
        // A module-path naming the module as the config does matches too.
        if !token.modules.contains(&cfg.pkcs11.module) {
            token.modules.push(cfg.pkcs11.module.clone());
        }
        for ((alias, kc), info) in served.iter().zip(&infos) {
            let rotated = decision_state.keys.current(alias).is_some();
            check_key_uri(alias, kc, &token, (!rotated).then_some(info))?;
        }
        let mut keys: Vec<_> = served
            .into_iter()
            .zip(infos)
            .enumerate()
            .map(|(i, ((a, kc), info))| (a, kc, info, crate::keyring::KeySource::Token(i as u32)))
            .chain(piv_served)
            .collect();
        // Config order (aliases sort), whichever device holds the key.
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let keyring = Keyring::new(keys, pool, token)?;
        for e in keyring.entries() {
            tracing::info!(key = %e.alias, r#type = %e.info.key_type, uri = %e.info.uri(),
                address = e.info.eth_address().unwrap_or_default(), local = e.info.local, "key loaded");
        }
        if cfg.agent.self_test {
            keyring.self_test().await?;
            tracing::info!(keys = keyring.entries().len(), "self-test passed");
        }
        let (Some(journal), Some(report)) = (journal, report) else {
            let test = if cfg.agent.self_test { "self-test passed" } else { "self-test skipped by config" };
            crate::out::stdout_fmt(format_args!(
                "config and keys OK ({} keys, {test})\n",
                keyring.entries().len()
            ));
            return Ok(());
        };
        verify_checkpoints(&keyring, &cfg.journal.audit_key, &report.checkpoints).await?;
        let limit = cfg
            .journal
            .max_uncovered_at_start
            .unwrap_or(cfg.journal.checkpoint_every.saturating_mul(10));
        if report.uncovered > limit {
            return Err(format!(
                "{} journal records follow the last checkpoint, more than the agent ever leaves behind ({limit}): \
                 checkpoints may have been removed. Check with `tradeward journal verify`; if the journal is \
                 genuine, raise journal.max_uncovered_at_start for one start.",
                report.uncovered
            ));
        }
        tracing::info!(records = report.records, segments = report.segments,
            checkpoints = report.checkpoints.len(),
            orders = decision_state.replayed_orders, "journal replayed");
        // Checkpoint what was replayed before writing anything else. What a
        // run leaves uncovered is then only what it appended after its last
        // checkpoint, however many crashed runs came before it, and the
        // check above stays a tampering alarm rather than a crash counter.
        if report.uncovered > 0 {
            let covers = sign_checkpoint(&keyring, &journal, &cfg.journal.audit_key)
                .await
                .map_err(|e| format!("cannot checkpoint the replayed journal: {e}"))?;
            tracing::info!(uncovered = report.uncovered, covers = ?covers, "journal: replayed records checkpointed");
        }
        let mut hyperliquid = std::collections::HashMap::new();
        for (alias, k) in &cfg.keys {
            if let Some(h) = &k.hyperliquid {
                let mut meta =
                    crate::venue::hyperliquid::Meta::load(&h.meta, h.spot_meta.as_deref())
                        .map_err(|e| format!("keys.{alias}.hyperliquid: {e}"))?;
                if let Some(list) = &h.perp_dexs {
                    meta.load_perp_dexs(
                        list,
                        h.dex_meta.iter().map(|(n, p)| (n.as_str(), p.as_path())),
                    )
                    .map_err(|e| format!("keys.{alias}.hyperliquid: {e}"))?;
                }
                hyperliquid.insert(alias.clone(), meta);
            }
        }
        if let Some(bytes) = report.torn_bytes {
            tracing::warn!(bytes, "journal: cut back a torn last write from an unclean stop");
            journal
                .append(Event::Note {
                    message: format!("cut back a torn last write of {bytes} bytes left by an unclean stop"),
                })
                .await
                .map_err(|e| e.to_string())?;
        }
        if report.unclean_previous {
            journal
                .append(Event::Note {
                    message: "the previous run ended without a stop record (crash or SIGKILL)".into(),
                })
                .await
                .map_err(|e| e.to_string())?;
        }
        journal
            .append(Event::Start {
                version: env!("CARGO_PKG_VERSION").into(),
                pid: std::process::id(),
                config_sha256,
                keys: keyring
                    .entries()
                    .iter()
                    .map(|e| KeySummary {
                        alias: e.alias.clone(),
                        key_type: e.info.key_type.as_str().into(),
                        uri: e.info.uri(),
                        public_key: e.info.public_key.as_deref().map(to_hex),
                    })
                    .collect(),
            })
            .await
            .map_err(|e| format!("cannot write the journal: {e}"))?;

        let mut totp = std::collections::HashMap::new();
        for o in &cfg.admin.operators {
            if let Some(f) = &o.totp_secret_file {
                crate::harden::check_private_file(f, "TOTP secret file", true)
                    .map_err(|e| format!("admin.operators (uid {}): {e}", o.uid))?;
                let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
                let secret = crate::totp::decode_secret(&text)
                    .map_err(|e| format!("{}: {e}", f.display()))?;
                totp.insert(o.uid, crate::totp::Totp::new(secret));
            }
        }
        let socket_path = cfg.agent.socket.clone();
        let admin_path = cfg.admin_socket();
        // The bots' socket first: it creates a shared directory with the
        // group's mode. The admin socket is 0600 (0660 with
        // admin.socket_group); either way only operator uids are served.
        let listener = server::socket::bind(&socket_path, cfg.agent.socket_group.as_deref())?;
        let admin_listener = server::socket::bind(&admin_path, cfg.admin.socket_group.as_deref())
            .map_err(|e| format!("admin socket: {e}"))?;
        // Opt-in metrics endpoint, bound before serving so a taken port
        // stops the start.
        let metrics_listener = match cfg.metrics.listen_addr()? {
            Some(addr) => {
                let l = server::metrics::bind(addr).await?;
                tracing::info!(address = %addr, "metrics endpoint listening");
                Some(l)
            }
            None => None,
        };
        tracing::info!(socket = %socket_path.display(), workers, pid = std::process::id(), "agent listening");
        let state = Arc::new(AgentState {
            config: cfg,
            keyring,
            journal: journal.clone(),
            cluster,
            hyperliquid,
            state: tokio::sync::Mutex::new(decision_state),
            started: std::time::Instant::now(),
            deadman_wake: tokio::sync::Notify::new(),
            totp: std::sync::Mutex::new(totp),
            connections: std::sync::Mutex::new(std::collections::HashMap::new()),
            refusals: std::sync::Mutex::new(crate::refusals::Refusals::default()),
            config_path: Some(config_path.to_path_buf()),
        });
        let shutdown = CancellationToken::new();
        let cluster_watch = match state.cluster {
            Some(_) => watch_cluster(&state, &shutdown),
            None => Vec::new(),
        };
        let stopper = shutdown.clone();
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: draining"),
                _ = int.recv() => tracing::info!("SIGINT: draining"),
            }
            crate::supervise::stopping();
            stopper.cancel();
        });
        let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
        let reloader = {
            let state = state.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = hup.recv() => {}
                    }
                    match server::ops::admin::reload(&state, "SIGHUP").await {
                        Ok(v) => tracing::info!(result = %v, "SIGHUP: policy reloaded"),
                        Err(e) => tracing::error!(error = %e.error().message, "SIGHUP: policy not reloaded; the old one stays"),
                    }
                }
            })
        };
        let checkpoints = tokio::spawn(checkpoint_loop(state.clone(), shutdown.clone()));
        crate::metrics::get().start_time.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        );
        let metrics_http = metrics_listener.map(|l| {
            tokio::spawn(server::metrics::serve(l, state.clone(), shutdown.clone()))
        });
        let metrics_file = state.config.metrics.textfile.clone().map(|path| {
            let every = Duration::from_secs(state.config.metrics.textfile_interval_s);
            tokio::spawn(server::metrics::textfile_loop(path, every, state.clone(), shutdown.clone()))
        });
        // Trips overdue from before this start happen here, at once.
        let watcher = tokio::spawn(crate::deadman::watch::run(state.clone(), shutdown.clone()));
        let admin = tokio::spawn(server::serve(
            admin_listener,
            state.clone(),
            shutdown.clone(),
            server::Role::Operator,
        ));
        let watchdog = crate::supervise::spawn_watchdog(state.clone(), shutdown.clone());
        // Sockets bound, start-up checks and self-test passed: serving.
        crate::supervise::ready();
        server::serve(listener, state.clone(), shutdown, server::Role::Bot).await;
        if let Some(w) = watchdog {
            let _ = w.await;
        }
        let _ = admin.await;
        let _ = watcher.await;
        let _ = reloader.await;
        let _ = checkpoints.await;
        for task in [metrics_http, metrics_file].into_iter().flatten() {
            let _ = task.await;
        }
        for task in cluster_watch {
            let _ = task.await;
        }
        let _ = std::fs::remove_file(&socket_path);
        let _ = std::fs::remove_file(&admin_path);
        if let Err(e) = journal.append(Event::Stop { reason: "signal".into() }).await {
            tracing::error!(error = %e, "could not journal the stop");
        }
        if let Err(e) = checkpoint(&state).await {
            tracing::error!(error = %e, "final journal checkpoint failed");
        }
        tracing::info!("agent stopped");
        Ok(())
    })
}

/// Check every checkpoint's signature with the audit key before trusting
/// the replayed state: without this, someone with the disk could edit
/// records, re-chain them, drop the checkpoints, and have the agent's next
/// checkpoint bless the result.
/// A configured key's URI against the token actually opened: its token,
/// library and module attributes must match; and, for a key not rotated
/// since (`key` given), its object, id and type must name the key found.
pub(crate) fn check_key_uri(
    alias: &str,
    kc: &crate::config::KeyConfig,
    token: &crate::backend::TokenIdentity,
    key: Option<&crate::backend::KeyInfo>,
) -> Result<(), String> {
    let Some(u) = &kc.uri else {
        return Ok(());
    };
    let uri =
        crate::backend::uri::Pkcs11Uri::parse(u).map_err(|e| format!("keys.{alias}.uri: {e}"))?;
    uri.check_token(token)
        .map_err(|e| format!("keys.{alias}.uri does not match the token in use: {e}"))?;
    if let Some(k) = key
        && !uri.matches_key(k)
    {
        return Err(format!(
            "keys.{alias}.uri does not match the key found on the token ({})",
            k.uri()
        ));
    }
    Ok(())
}

async fn verify_checkpoints(
    keyring: &Keyring,
    alias: &str,
    checkpoints: &[crate::journal::segment::FoundCheckpoint],
) -> Result<(), String> {
    let entry = keyring
        .lookup(alias)
        .ok_or_else(|| format!("audit key {alias:?} is not loaded"))?;
    let kt = entry.info.key_type;
    for cp in checkpoints {
        let fail = |why: String| {
            format!(
                "journal checkpoint at seq {} (covering seq {}) does not verify: {why}. The journal may have been \
                 altered; run `tradeward journal verify`. (A journal whose checkpoints were made with another \
                 audit key must be archived and a new journal folder started.)",
                cp.seq, cp.covers
            )
        };
        if cp.key != alias || cp.key_type != kt.as_str() {
            return Err(fail(format!(
                "it names key {:?} ({}), but the audit key is {alias:?} ({kt})",
                cp.key, cp.key_type
            )));
        }
        let head: [u8; 32] = hex::decode(&cp.head)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| fail("its head is not a hash".into()))?;
        let sig =
            hex::decode(&cp.signature).map_err(|_| fail("its signature is not hex".into()))?;
        let msg = crate::journal::record::checkpoint_message(cp.covers, &head);
        match (&entry.info.public_key, kt) {
            (_, crate::backend::KeyType::Hmac) => {
                let mac = keyring
                    .sign(&entry, SignInput::Message(msg))
                    .await
                    .map_err(|e| fail(format!("the token could not compute the MAC ({e})")))?
                    .signature_bytes();
                if mac != sig {
                    return Err(fail("the MAC does not match".into()));
                }
            }
            (Some(pk), _) => crate::crypto::verify_message(kt.as_str(), pk, &msg, &sig)
                .map_err(|e| fail(e.to_string()))?,
            (None, _) => return Err(fail("the audit key has no public key".into())),
        }
    }
    Ok(())
}

/// Sign the journal head with the audit key and append the checkpoint.
async fn checkpoint(state: &AgentState) -> Result<Option<u64>, String> {
    sign_checkpoint(
        &state.keyring,
        &state.journal,
        &state.config.journal.audit_key,
    )
    .await
}

async fn sign_checkpoint(
    keyring: &Keyring,
    journal: &Journal,
    alias: &str,
) -> Result<Option<u64>, String> {
    let entry = keyring
        .lookup(alias)
        .ok_or_else(|| format!("audit key {alias:?} is not loaded"))?;
    let key_type = entry.info.key_type.as_str();
    write_checkpoint(journal, alias, key_type, |msg| async move {
        keyring
            .sign(&entry, SignInput::Message(msg))
            .await
            .map(|o| o.signature_bytes())
            .map_err(|e| e.to_string())
    })
    .await
}

/// Checkpoint every `checkpoint_every` records or every interval with new
/// records, until shutdown.
async fn checkpoint_loop(state: Arc<AgentState>, shutdown: CancellationToken) {
    let interval = Duration::from_secs(state.config.journal.checkpoint_interval_secs);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
            _ = state.journal.checkpoint_wanted() => {}
        }
        if state.journal.uncheckpointed() == 0 {
            continue;
        }
        match checkpoint(&state).await {
            Ok(Some(seq)) => tracing::debug!(covers = seq, "journal checkpoint"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "journal checkpoint failed"),
        }
    }
}

/// How long an idle agent goes without catching up with the cluster when
/// no notification comes (the bound on how late another agent's halt shows
/// here if a NOTIFY is lost, e.g. while the listener reconnects).
const IDLE_CATCH_UP: Duration = Duration::from_secs(2);

/// With `[cluster]`: listen for the cluster's operator events and catch up
/// on each (and every `IDLE_CATCH_UP`), so a halt on another agent holds
/// here within a bounded time even while no request comes.
fn watch_cluster(
    state: &Arc<AgentState>,
    shutdown: &CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    let wake = Arc::new(tokio::sync::Notify::new());
    let (listener_state, listener_wake, stop) = (state.clone(), wake.clone(), shutdown.clone());
    let listener = tokio::spawn(async move {
        let Some(cluster) = &listener_state.cluster else {
            return;
        };
        while !stop.is_cancelled() {
            match cluster.listen(listener_wake.clone()).await {
                Ok(client) => {
                    // What was announced while not listening.
                    listener_wake.notify_one();
                    while !client.is_closed() && !stop.is_cancelled() {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                            _ = stop.cancelled() => {}
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cluster listener could not connect"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.cancelled() => {}
            }
        }
    });
    let (state, stop) = (state.clone(), shutdown.clone());
    let catcher = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(IDLE_CATCH_UP) => {}
                _ = stop.cancelled() => return,
            }
            crate::authorize::catch_up_idle(&state).await;
        }
    });
    vec![listener, catcher]
}
