//! The agent's configuration file (TOML). The types mirror the file section
//! by section; every table rejects unknown keys, so a typo is an error that
//! names its line instead of a silently ignored setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::backend::uri::{ObjectType, Pkcs11Uri};
use crate::backend::{KeySelector, KeyType, TokenSelector};

/// Default maximum frame size on the socket: 1 MiB.
pub const DEFAULT_MAX_FRAME: usize = 1024 * 1024;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{0}")]
    Permissions(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub agent: AgentConfig,
    pub pkcs11: Pkcs11Config,
    pub journal: JournalConfig,
    #[serde(default)]
    pub keys: BTreeMap<String, KeyConfig>,
    #[serde(default)]
    pub identities: BTreeMap<String, IdentityConfig>,
    /// Risk policy for order operations (docs/policy.md). Absent: every
    /// order is denied (no symbol is allowed).
    #[serde(default)]
    pub policy: crate::policy::PolicyConfig,
    /// The dead-man's switch (docs/deadman.md).
    #[serde(default)]
    pub deadman: DeadmanConfig,
    /// The operator socket (docs/operations.md).
    #[serde(default)]
    pub admin: AdminConfig,
    /// YubiKeys whose PIV keys the agent serves, by name (docs/yubikey.md).
    #[serde(default)]
    pub yubikeys: BTreeMap<String, YubikeyConfig>,
    /// Prometheus metrics, opt-in (docs/operations.md).
    #[serde(default)]
    pub metrics: crate::metrics::MetricsConfig,
    /// Shared state with other agents on PostgreSQL (docs/cluster.md).
    /// Absent: the local journal is the only store.
    pub cluster: Option<crate::cluster::ClusterConfig>,
}

/// `[yubikeys.NAME]`: one YubiKey, found by its serial number.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YubikeyConfig {
    pub serial: u32,
    pub pin_file: Option<PathBuf>,
    pub pin_env: Option<String>,
    #[serde(default)]
    pub pin_prompt: bool,
    /// How long one signature may take, touch included (ms). A YubiKey
    /// waits about 15 s for a touch.
    #[serde(default = "default_yubikey_sign_timeout")]
    pub sign_timeout_ms: u64,
}

fn default_yubikey_sign_timeout() -> u64 {
    20_000
}

/// `[deadman]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DeadmanConfig {
    /// The shortest timeout a bot may arm its switch with (ms).
    #[serde(default = "default_min_timeout")]
    pub min_timeout_ms: u64,
    /// The longest timeout a bot may arm its switch with (ms).
    #[serde(default = "default_max_timeout")]
    pub max_timeout_ms: u64,
    /// While tripped or halted, cancels, clearing a schedule and
    /// reduce-only orders still pass.
    #[serde(default = "yes")]
    pub halted_allows_reducing: bool,
    /// Command run at a trip (program and arguments, no shell), with the
    /// signed cancel instructions as a JSON document on stdin.
    #[serde(default)]
    pub on_trip: Vec<String>,
    /// How long the on-trip command may run before it is killed (ms).
    #[serde(default = "default_on_trip_timeout")]
    pub on_trip_timeout_ms: u64,
    /// Also hand the on-trip command signed reduce-only IOC orders that
    /// close the positions the bot reported (`position.report`), priced at
    /// the reference price ± `flatten_slippage_bps` (Hyperliquid keys).
    #[serde(default)]
    pub flatten_on_trip: bool,
    #[serde(default = "default_flatten_slippage")]
    pub flatten_slippage_bps: u32,
    /// A reference price older than this (ms) does not price a flattening
    /// order: that position is reported as not flattened instead.
    #[serde(default = "default_flatten_price_age")]
    pub flatten_price_max_age_ms: u64,
}

fn default_flatten_price_age() -> u64 {
    60_000
}

fn default_flatten_slippage() -> u32 {
    100
}

impl Default for DeadmanConfig {
    fn default() -> Self {
        DeadmanConfig {
            min_timeout_ms: default_min_timeout(),
            max_timeout_ms: default_max_timeout(),
            halted_allows_reducing: true,
            on_trip: Vec::new(),
            on_trip_timeout_ms: default_on_trip_timeout(),
            flatten_on_trip: false,
            flatten_slippage_bps: default_flatten_slippage(),
            flatten_price_max_age_ms: default_flatten_price_age(),
        }
    }
}

fn default_min_timeout() -> u64 {
    1_000
}
fn default_max_timeout() -> u64 {
    3_600_000
}
fn default_on_trip_timeout() -> u64 {
    10_000
}

/// `[admin]`: the operator socket. Operator operations (status, halt,
/// resume, rearm, pause, reload, rotate, rollback, zeroize) are served
/// only there, never on the bots' socket, and only to the uids listed here
/// and in `[[admin.operators]]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Default: `admin.sock` next to the agent's socket.
    pub socket: Option<PathBuf>,
    /// Group allowed to connect (socket mode 0660), for operator uids other
    /// than the agent's own; the uid check still applies. Without it, 0600.
    /// The socket's directory must let that group in too (give the bots'
    /// socket the same group, or put this socket in its own directory).
    pub socket_group: Option<String>,
    /// Operator uids; default: the uid the agent runs as.
    #[serde(default)]
    pub uids: Vec<u32>,
    /// Allow an operator uid that is also a bot identity's uid. Any process
    /// of that uid could then act as the operator: for development only.
    #[serde(default)]
    pub allow_shared_uid: bool,
    /// Operators with a TOTP second factor (`[[admin.operators]]`).
    #[serde(default)]
    pub operators: Vec<OperatorConfig>,
}

/// `[[admin.operators]]`: an operator uid, optionally with a TOTP secret
/// required for resume, rearm, pause, reload, rotate, rollback and zeroize.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    pub uid: u32,
    /// File (mode 0600) holding the base32 TOTP secret, as enrolled in the
    /// operator's authenticator app.
    pub totp_secret_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Path of the Unix socket bots connect to.
    pub socket: PathBuf,
    /// Group allowed to connect (socket mode 0660); without it, 0600.
    pub socket_group: Option<String>,
    #[serde(default = "default_max_frame")]
    pub max_frame_bytes: usize,
    /// Number of signing worker processes; default: one per core.
    pub workers: Option<usize>,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight_per_connection: usize,
    #[serde(default = "default_sign_timeout")]
    pub sign_timeout_ms: u64,
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_ms: u64,
    /// Close a connection that sends nothing for this long (ms; 0: never).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
    /// A request, once its first byte arrived, must arrive whole within
    /// this long (ms), or the connection is closed: a client sending a byte
    /// a second cannot hold a slot for long.
    #[serde(default = "default_read_timeout")]
    pub read_timeout_ms: u64,
    /// A response that cannot be written for this long (ms) — the client
    /// stopped reading — closes the connection.
    #[serde(default = "default_write_timeout")]
    pub write_timeout_ms: u64,
    /// Connections one identity may hold at once.
    #[serde(default = "default_max_connections_per_identity")]
    pub max_connections_per_identity: usize,
    /// Skip the start-up sign-and-verify self-test (not recommended).
    #[serde(default = "yes")]
    pub self_test: bool,
    /// Shape of log lines: "plain" (default) or "json" (`--log-format`
    /// overrides it).
    #[serde(default)]
    pub log_format: crate::logging::LogFormat,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    pub module: PathBuf,
    #[serde(default = "default_module_dirs")]
    pub allowed_module_dirs: Vec<PathBuf>,
    pub token_label: Option<String>,
    pub token_serial: Option<String>,
    pub pin_file: Option<PathBuf>,
    pub pin_env: Option<String>,
    #[serde(default)]
    pub pin_prompt: bool,
    /// Environment for the module (e.g. SOFTHSM2_CONF).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// Folder of the journal's segment files (created 0700 if missing).
    pub dir: PathBuf,
    /// Alias (in `[keys]`) of the key that signs checkpoints. It must not
    /// be granted to any identity.
    pub audit_key: String,
    /// A segment rolls over past this size.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    /// Write a checkpoint after this many records...
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// ...or after this many seconds with new records, whichever is first.
    #[serde(default = "default_checkpoint_interval")]
    pub checkpoint_interval_secs: u64,
    /// Refuse to start when more records than this follow the last
    /// checkpoint: the agent never leaves that many behind, so checkpoints
    /// were probably removed. Default: 10 × checkpoint_every.
    pub max_uncovered_at_start: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    #[serde(rename = "type")]
    pub key_type: KeyType,
    pub label: Option<String>,
    /// CKA_ID in hex.
    pub id: Option<String>,
    /// RFC 7512 URI; alternative to label/id.
    pub uri: Option<String>,
    /// The key is on this YubiKey (a name in `[yubikeys]`), in `slot`,
    /// instead of on the PKCS#11 token.
    pub yubikey: Option<String>,
    /// PIV slot of a YubiKey key: 9a, 9c, 9d, 9e or 82 to 95.
    pub slot: Option<crate::backend::piv::Slot>,
    /// Allow the generic `sign` op (arbitrary bytes or digests). Off by
    /// default: trading keys sign only what policy has judged.
    #[serde(default)]
    pub raw_signing: bool,
    /// Accept a key whose value could leave the token.
    #[serde(default)]
    pub allow_extractable: bool,
    /// Enables the Hyperliquid operations for this (secp256k1) key.
    pub hyperliquid: Option<HyperliquidKeyConfig>,
    /// Enables `rest.sign_request` (Binance-style REST signing) for this
    /// HMAC or Ed25519 key: `[keys.ALIAS.rest]`, see docs/rest.md.
    pub rest: Option<crate::venue::binance::RestKeyConfig>,
    /// Enables `eip712.sign_typed_data` for this secp256k1 key, for the
    /// domains listed: `[keys.ALIAS.eip712]`.
    pub eip712: Option<crate::venue::typed_data::Eip712KeyConfig>,
    /// Enables OKX v5 REST signing (`rest.sign_request` with venue "okx")
    /// for this HMAC key: `[keys.ALIAS.okx]`, see docs/okx.md.
    pub okx: Option<crate::venue::okx::OkxKeyConfig>,
    /// Enables Bybit v5 signing (`rest.sign_request` with venue "bybit")
    /// for this HMAC key: `[keys.ALIAS.bybit]`, see docs/bybit.md.
    pub bybit: Option<crate::venue::bybit::BybitKeyConfig>,
}

/// `[keys.ALIAS.hyperliquid]`: what this key may sign on Hyperliquid.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HyperliquidKeyConfig {
    /// The only network this key signs for.
    pub network: Network,
    /// Vault / sub-account addresses the key may act for (none by default:
    /// only the key's own account).
    #[serde(default)]
    pub vaults: Vec<String>,
    /// Perpetuals metadata in the venue's `meta` response format.
    pub meta: PathBuf,
    /// Spot metadata in the venue's `spotMeta` response format.
    pub spot_meta: Option<PathBuf>,
    /// The venue's `perpDexs` response: the list of perp dexs, whose
    /// positions fix the asset indices of builder-deployed dexs (HIP-3).
    /// Needed by `dex_meta`.
    pub perp_dexs: Option<PathBuf>,
    /// Builder-deployed perp dexs this key trades on: dex name → that
    /// dex's `meta` response (`{"type": "meta", "dex": NAME}`). Assets of
    /// dexs not listed are unknown.
    #[serde(default)]
    pub dex_meta: BTreeMap<String, PathBuf>,
    /// Exchange-side dead-man's switch: with this set, each heartbeat of an
    /// identity holding this key returns a signed `scheduleCancel` for
    /// now + timeout + this grace (ms; at least the venue's 5 s lead).
    pub schedule_cancel_grace_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Mainnet,
    Testnet,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    #[serde(default)]
    pub uids: Vec<u32>,
    #[serde(default)]
    pub gids: Vec<u32>,
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub ops: Vec<GrantedOp>,
}

/// Operations an identity may be granted. `hello` and `ping` are always
/// available to any known identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantedOp {
    ListKeys,
    Sign,
    #[serde(rename = "hyperliquid.sign_l1_action")]
    HyperliquidSignL1Action,
    #[serde(rename = "hyperliquid.sign_user_action")]
    HyperliquidSignUserAction,
    /// Feed reference prices (`price.update`): the price-feed role.
    #[serde(rename = "price.update")]
    PriceUpdate,
    /// Report orders closed (filled or cancelled) at the venue.
    #[serde(rename = "order.report")]
    OrderReport,
    /// Sign Binance-style REST requests (`rest.sign_request`).
    #[serde(rename = "rest.sign_request")]
    RestSignRequest,
    /// Arm and feed the identity's dead-man's switch (`heartbeat`).
    Heartbeat,
    /// Report positions (`position.report`), for flattening at a trip.
    #[serde(rename = "position.report")]
    PositionReport,
    /// Sign EIP-712 typed data for a key's allowed domains.
    #[serde(rename = "eip712.sign_typed_data")]
    Eip712SignTypedData,
}

impl GrantedOp {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantedOp::ListKeys => "list_keys",
            GrantedOp::Sign => "sign",
            GrantedOp::HyperliquidSignL1Action => "hyperliquid.sign_l1_action",
            GrantedOp::HyperliquidSignUserAction => "hyperliquid.sign_user_action",
            GrantedOp::PriceUpdate => "price.update",
            GrantedOp::OrderReport => "order.report",
            GrantedOp::RestSignRequest => "rest.sign_request",
            GrantedOp::Heartbeat => "heartbeat",
            GrantedOp::PositionReport => "position.report",
            GrantedOp::Eip712SignTypedData => "eip712.sign_typed_data",
        }
    }
}

fn default_max_frame() -> usize {
    DEFAULT_MAX_FRAME
}
fn default_idle_timeout() -> u64 {
    3_600_000
}
fn default_read_timeout() -> u64 {
    10_000
}
fn default_write_timeout() -> u64 {
    10_000
}
fn default_max_connections_per_identity() -> usize {
    // Half of the default max_connections: one identity cannot take them
    // all.
    512
}
fn default_max_connections() -> usize {
    1024
}
fn default_max_in_flight() -> usize {
    64
}
fn default_sign_timeout() -> u64 {
    30_000
}
fn default_shutdown_grace() -> u64 {
    10_000
}
fn default_segment_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_checkpoint_every() -> u64 {
    1000
}
fn default_checkpoint_interval() -> u64 {
    60
}
fn yes() -> bool {
    true
}
fn default_module_dirs() -> Vec<PathBuf> {
    crate::backend::pkcs11::DEFAULT_MODULE_DIRS
        .iter()
        .map(PathBuf::from)
        .collect()
}

impl Config {
    /// Read, permission-check, parse and validate a config file. Relative
    /// paths inside it are taken relative to the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        crate::harden::check_private_file(path, "config file", false)
            .map_err(ConfigError::Permissions)?;
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let mut cfg = Config::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.into(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        cfg.validate().map_err(|message| ConfigError::Invalid {
            path: path.into(),
            message,
        })?;
        Ok(cfg)
    }

    /// Parse TOML text (no validation).
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.agent.socket);
        if let Some(p) = self.admin.socket.as_mut() {
            fix(p);
        }
        for o in &mut self.admin.operators {
            if let Some(p) = o.totp_secret_file.as_mut() {
                fix(p);
            }
        }
        fix(&mut self.journal.dir);
        for k in self.keys.values_mut() {
            if let Some(h) = k.hyperliquid.as_mut() {
                fix(&mut h.meta);
                if let Some(s) = h.spot_meta.as_mut() {
                    fix(s);
                }
                if let Some(s) = h.perp_dexs.as_mut() {
                    fix(s);
                }
                for p in h.dex_meta.values_mut() {
                    fix(p);
                }
            }
        }
        for k in self.keys.values_mut() {
            if let Some(o) = k.okx.as_mut() {
                fix(&mut o.passphrase_file);
            }
        }
        for y in self.yubikeys.values_mut() {
            if let Some(p) = y.pin_file.as_mut() {
                fix(p);
            }
        }
        fix(&mut self.pkcs11.module);
        if let Some(c) = self.cluster.as_mut() {
            c.resolve_paths(base);
        }
        if let Some(p) = self.pkcs11.pin_file.as_mut() {
            fix(p);
        }
        for d in &mut self.pkcs11.allowed_module_dirs {
            fix(d);
        }
    }

    /// The operator socket's path.
    pub fn admin_socket(&self) -> PathBuf {
        self.admin.socket.clone().unwrap_or_else(|| {
            self.agent
                .socket
                .parent()
                .unwrap_or(Path::new("."))
                .join("admin.sock")
        })
    }

    /// The uids served on the operator socket.
    pub fn operator_uids(&self) -> Vec<u32> {
        let mut uids = self.admin.uids.clone();
        uids.extend(self.admin.operators.iter().map(|o| o.uid));
        if uids.is_empty() {
            uids.push(nix::unistd::geteuid().as_raw());
        }
        uids.sort_unstable();
        uids.dedup();
        uids
    }

    fn validate_deadman_and_admin(&self) -> Result<(), String> {
        let d = &self.deadman;
        if d.min_timeout_ms < 100 || d.min_timeout_ms > d.max_timeout_ms {
            return Err("deadman: need 100 <= min_timeout_ms <= max_timeout_ms".into());
        }
        if d.max_timeout_ms > 7 * 86_400_000 {
            return Err("deadman.max_timeout_ms must be at most 7 days".into());
        }
        if d.on_trip_timeout_ms == 0 || d.on_trip_timeout_ms > 600_000 {
            return Err("deadman.on_trip_timeout_ms must be between 1 and 600000".into());
        }
        if d.flatten_slippage_bps == 0 || d.flatten_slippage_bps > 2_000 {
            return Err("deadman.flatten_slippage_bps must be between 1 and 2000".into());
        }
        if let Some(prog) = d.on_trip.first()
            && !Path::new(prog).is_absolute()
        {
            return Err(format!(
                "deadman.on_trip: the program must be an absolute path (got {prog:?}); no shell or PATH lookup is used"
            ));
        }
        for (alias, k) in &self.keys {
            if let Some(g) = k
                .hyperliquid
                .as_ref()
                .and_then(|h| h.schedule_cancel_grace_ms)
                && g > 86_400_000
            {
                return Err(format!(
                    "keys.{alias}.hyperliquid.schedule_cancel_grace_ms must be at most one day"
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for o in &self.admin.operators {
            if !seen.insert(o.uid) {
                return Err(format!("admin.operators lists uid {} twice", o.uid));
            }
        }
        if self.admin_socket() == self.agent.socket {
            return Err("admin.socket must differ from agent.socket".into());
        }
        if !self.admin.allow_shared_uid {
            for u in self.operator_uids() {
                // A bot identity matched by the operator's primary group is
                // the operator's uid too.
                let gid = primary_gid(u);
                if let Some((name, _)) = self
                    .identities
                    .iter()
                    .find(|(_, i)| i.uids.contains(&u) || gid.is_some_and(|g| i.gids.contains(&g)))
                {
                    return Err(format!(
                        "uid {u} is both an operator (admin.uids, default: the agent's own uid) and the uid of identity {name:?}: \
                         run bots under their own uids, or set admin.allow_shared_uid = true (development only)"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Cross-checks serde cannot express.
    pub fn validate(&self) -> Result<(), String> {
        self.validate_deadman_and_admin()?;
        self.metrics.validate()?;
        if let Some(c) = &self.cluster {
            c.validate()?;
        }
        let a = &self.agent;
        // The upper bound keeps every message to be signed well inside what
        // the worker pipe carries (16 MiB).
        if a.read_timeout_ms == 0 || a.read_timeout_ms > 600_000 {
            return Err("agent.read_timeout_ms must be between 1 and 600000".into());
        }
        if a.write_timeout_ms == 0 || a.write_timeout_ms > 600_000 {
            return Err("agent.write_timeout_ms must be between 1 and 600000".into());
        }
        if a.max_connections_per_identity == 0 {
            return Err("agent.max_connections_per_identity must be at least 1".into());
        }
        if a.max_frame_bytes < 64 || a.max_frame_bytes > 8 * 1024 * 1024 {
            return Err("agent.max_frame_bytes must be between 64 and 8388608".into());
        }
        if a.workers == Some(0) || a.workers.is_some_and(|w| w > 256) {
            return Err("agent.workers must be between 1 and 256".into());
        }
        if a.max_connections == 0 || a.max_in_flight_per_connection == 0 {
            return Err(
                "agent.max_connections and agent.max_in_flight_per_connection must be at least 1"
                    .into(),
            );
        }
        if a.sign_timeout_ms == 0 {
            return Err("agent.sign_timeout_ms must be at least 1".into());
        }
        let p = &self.pkcs11;
        let pin_sources =
            p.pin_file.is_some() as u8 + p.pin_env.is_some() as u8 + p.pin_prompt as u8;
        if pin_sources != 1 {
            return Err("pkcs11: set exactly one of pin_file, pin_env or pin_prompt = true".into());
        }
        let mut serials = BTreeMap::new();
        for (name, y) in &self.yubikeys {
            let n = y.pin_file.is_some() as u8 + y.pin_env.is_some() as u8 + y.pin_prompt as u8;
            if n != 1 {
                return Err(format!(
                    "yubikeys.{name}: set exactly one of pin_file, pin_env or pin_prompt = true"
                ));
            }
            if y.sign_timeout_ms == 0 || y.sign_timeout_ms > 120_000 {
                return Err(format!(
                    "yubikeys.{name}.sign_timeout_ms must be between 1 and 120000"
                ));
            }
            if let Some(other) = serials.insert(y.serial, name) {
                return Err(format!(
                    "yubikeys.{other} and yubikeys.{name} name the same serial {}",
                    y.serial
                ));
            }
        }
        let mut piv_slots = BTreeMap::new();
        for (alias, k) in &self.keys {
            match (&k.yubikey, k.slot) {
                (Some(dev), Some(slot)) => {
                    if !self.yubikeys.contains_key(dev) {
                        return Err(format!("keys.{alias}.yubikey: no [yubikeys.{dev}]"));
                    }
                    if k.label.is_some() || k.id.is_some() || k.uri.is_some() {
                        return Err(format!(
                            "keys.{alias}: a YubiKey key is named by yubikey and slot, not label, id or uri"
                        ));
                    }
                    if k.key_type != KeyType::P256 {
                        return Err(format!(
                            "keys.{alias}: YubiKey keys are p256 (PIV has no secp256k1, and \
                             Ed25519 needs firmware 5.7 and a newer yubikey crate), not {}",
                            k.key_type
                        ));
                    }
                    if let Some(other) = piv_slots.insert((dev.clone(), slot), alias) {
                        return Err(format!(
                            "keys {other:?} and {alias:?} name the same YubiKey slot {slot}; give each key one alias"
                        ));
                    }
                }
                (Some(_), None) => {
                    return Err(format!("keys.{alias}: a YubiKey key needs a slot"));
                }
                (None, Some(_)) => {
                    return Err(format!(
                        "keys.{alias}: slot is for YubiKey keys (set yubikey too)"
                    ));
                }
                (None, None) => {
                    self.key_selector(alias)
                        .map_err(|e| format!("keys.{alias}: {e}"))?;
                }
            }
            // A trading key signs only what its venue op judged: a raw
            // digest could be any order (or an Exchange-domain payload).
            if k.raw_signing && (k.hyperliquid.is_some() || k.rest.is_some() || k.eip712.is_some())
            {
                return Err(format!(
                    "keys.{alias}: raw_signing cannot be enabled on a key configured for a venue \
                     (hyperliquid, rest or eip712): it would bypass the policy"
                ));
            }
            if let Some(e) = &k.eip712 {
                if k.key_type != KeyType::Secp256k1 {
                    return Err(format!(
                        "keys.{alias}.eip712: typed data is signed with secp256k1 keys"
                    ));
                }
                e.validate()
                    .map_err(|m| format!("keys.{alias}.eip712: {m}"))?;
            }
            if let Some(h) = &k.hyperliquid {
                if k.key_type != KeyType::Secp256k1 {
                    return Err(format!(
                        "keys.{alias}.hyperliquid: Hyperliquid keys are secp256k1"
                    ));
                }
                if !h.dex_meta.is_empty() && h.perp_dexs.is_none() {
                    return Err(format!(
                        "keys.{alias}.hyperliquid.dex_meta needs keys.{alias}.hyperliquid.perp_dexs (the venue's perpDexs response): the dexs' positions in it fix their asset indices"
                    ));
                }
                for v in &h.vaults {
                    let ok = v.len() == 42
                        && v.starts_with("0x")
                        && v[2..].chars().all(|c| c.is_ascii_hexdigit());
                    if !ok {
                        return Err(format!(
                            "keys.{alias}.hyperliquid.vaults: {v:?} is not a 0x-prefixed 20-byte address"
                        ));
                    }
                }
            }
            if let Some(r) = &k.rest {
                if !matches!(k.key_type, KeyType::Hmac | KeyType::Ed25519) {
                    return Err(format!(
                        "keys.{alias}.rest: REST signing keys are hmac or ed25519, not {}",
                        k.key_type
                    ));
                }
                r.validate().map_err(|e| format!("keys.{alias}.rest.{e}"))?;
            }
            if let Some(o) = &k.okx {
                crate::venue::okx::validate_key(o, k.key_type == KeyType::Hmac, k.raw_signing)
                    .map_err(|e| format!("keys.{alias}.okx.{e}"))?;
            }
            if let Some(b) = &k.bybit {
                crate::venue::bybit::validate_key(b, k.key_type == KeyType::Hmac, k.raw_signing)
                    .map_err(|e| format!("keys.{alias}.bybit.{e}"))?;
            }
        }
        let j = &self.journal;
        if !self.keys.contains_key(&j.audit_key) {
            return Err(format!(
                "journal.audit_key: no key named {:?} in [keys]",
                j.audit_key
            ));
        }
        if j.segment_bytes < 4096 {
            return Err("journal.segment_bytes must be at least 4096".into());
        }
        if j.checkpoint_every == 0 || j.checkpoint_interval_secs == 0 {
            return Err(
                "journal.checkpoint_every and journal.checkpoint_interval_secs must be at least 1"
                    .into(),
            );
        }
        self.policy.validate().map_err(|e| format!("policy: {e}"))?;
        self.policy
            .check_names(
                self.keys.keys().map(String::as_str),
                self.identities.keys().map(String::as_str),
            )
            .map_err(|e| format!("policy: {e}"))?;
        let mut uid_owner: BTreeMap<u32, &str> = BTreeMap::new();
        let mut gid_owner: BTreeMap<u32, &str> = BTreeMap::new();
        for (name, id) in &self.identities {
            if id.uids.is_empty() && id.gids.is_empty() {
                return Err(format!("identities.{name}: needs at least one uid or gid"));
            }
            for k in &id.keys {
                if !self.keys.contains_key(k) {
                    return Err(format!(
                        "identities.{name}.keys: no key named {k:?} in [keys]"
                    ));
                }
                if *k == j.audit_key {
                    return Err(format!(
                        "identities.{name}.keys: {k:?} is the journal's audit key and cannot be granted to an identity"
                    ));
                }
            }
            for u in &id.uids {
                if let Some(other) = uid_owner.insert(*u, name) {
                    if other == name.as_str() {
                        return Err(format!("identities.{name}.uids lists uid {u} twice"));
                    }
                    return Err(format!(
                        "uid {u} is mapped to both identities {other:?} and {name:?}"
                    ));
                }
            }
            for g in &id.gids {
                if let Some(other) = gid_owner.insert(*g, name) {
                    if other == name.as_str() {
                        return Err(format!("identities.{name}.gids lists gid {g} twice"));
                    }
                    return Err(format!(
                        "gid {g} is mapped to both identities {other:?} and {name:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Where a YubiKey key lives: its device's config and its slot.
    pub fn piv_location(&self, alias: &str) -> Option<(&YubikeyConfig, crate::backend::piv::Slot)> {
        let k = self.keys.get(alias)?;
        Some((self.yubikeys.get(k.yubikey.as_ref()?)?, k.slot?))
    }

    /// The token selector from `[pkcs11]`.
    pub fn token_selector(&self) -> TokenSelector {
        TokenSelector {
            label: self.pkcs11.token_label.clone(),
            serial: self.pkcs11.token_serial.clone(),
        }
    }

    /// How to find key `alias` in the token.
    pub fn key_selector(&self, alias: &str) -> Result<KeySelector, String> {
        let k = self
            .keys
            .get(alias)
            .ok_or_else(|| format!("no key named {alias:?}"))?;
        let mut sel = KeySelector {
            label: k.label.clone(),
            id: match &k.id {
                Some(h) => Some(parse_hex(h).map_err(|e| format!("id: {e}"))?),
                None => None,
            },
        };
        if let Some(u) = &k.uri {
            if sel.label.is_some() || sel.id.is_some() {
                return Err("give either uri or label/id, not both".into());
            }
            let uri = Pkcs11Uri::parse(u).map_err(|e| format!("uri: {e}"))?;
            // What can be checked before the token is opened; the agent
            // checks the rest against the token at start.
            let pk = &self.pkcs11;
            for (attr, named, configured) in [
                ("token", &uri.token, &pk.token_label),
                ("serial", &uri.serial, &pk.token_serial),
            ] {
                if let (Some(n), Some(c)) = (named, configured)
                    && n != c
                {
                    return Err(format!("uri: {attr}={n:?}, but pkcs11 names {c:?}"));
                }
            }
            if let Some(t) = uri.object_type
                && t != ObjectType::of(k.key_type)
            {
                return Err(format!(
                    "uri: type={} does not fit a {} key",
                    t.as_str(),
                    k.key_type
                ));
            }
            sel.label = uri.object;
            sel.id = uri.id;
        }
        if sel.label.is_none() && sel.id.is_none() {
            return Err("needs a label, an id or a uri".into());
        }
        Ok(sel)
    }

    /// The identity a peer maps to: by uid first, then by primary gid.
    pub fn identity_for(&self, uid: u32, gid: u32) -> Option<(&str, &IdentityConfig)> {
        self.identities
            .iter()
            .find(|(_, i)| i.uids.contains(&uid))
            .or_else(|| self.identities.iter().find(|(_, i)| i.gids.contains(&gid)))
            .map(|(n, i)| (n.as_str(), i))
    }
}

/// The primary group of `uid`, from the user database.
fn primary_gid(uid: u32) -> Option<u32> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.gid.as_raw())
}

/// Parse hex with an optional `0x` prefix.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    hex::decode(s).map_err(|e| format!("invalid hex: {e}"))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
