//! `[cluster]`: where the shared database is, how to reach it, and who
//! this agent is in the cluster (docs/cluster.md). The types mirror the
//! TOML table and refuse unknown keys, like the rest of the config.
//!
//! The database URL holds a password, so it is never in the config file
//! itself nor on the command line: it comes from a private file
//! (`url_file`, checked like a PIN file) or an environment variable
//! (`url_env`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

/// Default deadline of one shared decision (connect, lock, catch up,
/// record, commit), in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 2_000;

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The cluster's name: agents with the same name share one risk budget.
    pub name: String,
    /// This agent's id, unique in the cluster.
    pub agent_id: String,
    /// File (mode 0600 or 0640, not writable by others) holding the
    /// PostgreSQL URL (`postgresql://user:password@host:port/db`) or a
    /// libpq-style `key=value` string.
    pub url_file: Option<PathBuf>,
    /// Environment variable holding the URL instead.
    pub url_env: Option<String>,
    /// TLS to the database: `disable`, `require` (encrypted, server not
    /// authenticated) or `verify-full` (the server's certificate checked
    /// against `ca_file` and its host name).
    #[serde(default)]
    pub sslmode: SslMode,
    /// PEM file of the CA certificates that sign the server's certificate
    /// (needed by `verify-full`).
    pub ca_file: Option<PathBuf>,
    /// Deadline of one shared decision (ms): past it the request is
    /// denied with `cluster_unavailable` and nothing is signed.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// `cluster.sslmode`, named after libpq's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Plain TCP or a Unix socket: for a database on the same host or a
    /// private network only.
    Disable,
    /// TLS, but any server certificate is accepted (protects against
    /// passive listeners only).
    Require,
    /// TLS with the server's certificate chain and host name checked.
    #[default]
    VerifyFull,
}

impl ClusterConfig {
    /// Relative paths are taken relative to the config file's folder.
    pub fn resolve_paths(&mut self, base: &Path) {
        for p in [self.url_file.as_mut(), self.ca_file.as_mut()]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    /// Cross-checks serde cannot express; messages name the setting.
    pub fn validate(&self) -> Result<(), String> {
        for (what, v) in [("name", &self.name), ("agent_id", &self.agent_id)] {
            let ok = !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(format!(
                    "cluster.{what} must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_' or '.' (got {v:?})"
                ));
            }
        }
        if self.url_file.is_some() == self.url_env.is_some() {
            return Err("cluster: set exactly one of url_file or url_env".into());
        }
        if self.timeout_ms < 10 || self.timeout_ms > 60_000 {
            return Err("cluster.timeout_ms must be between 10 and 60000".into());
        }
        match (self.sslmode, &self.ca_file) {
            (SslMode::VerifyFull, None) => Err(
                "cluster.ca_file is needed with sslmode = \"verify-full\" (the default); \
                 set sslmode = \"disable\" for a database on this host"
                    .into(),
            ),
            (SslMode::Disable | SslMode::Require, Some(_)) => Err(
                "cluster.ca_file is only used with sslmode = \"verify-full\"; remove it or set that mode"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// The database URL, from `url_file` or `url_env`. The error names the
    /// setting; it never contains the URL.
    pub fn read_url(&self) -> Result<Zeroizing<String>, String> {
        let url = if let Some(path) = &self.url_file {
            crate::harden::check_private_file(path, "cluster.url_file", true)?;
            let raw = Zeroizing::new(
                std::fs::read(path)
                    .map_err(|e| format!("cluster.url_file {}: {e}", path.display()))?,
            );
            let text = std::str::from_utf8(&raw)
                .map_err(|_| format!("cluster.url_file {} is not UTF-8", path.display()))?;
            Zeroizing::new(text.trim().to_string())
        } else {
            let var = self.url_env.as_deref().unwrap_or_default();
            Zeroizing::new(
                std::env::var(var)
                    .map_err(|_| format!("cluster.url_env: environment variable {var} is not set"))?
                    .trim()
                    .to_string(),
            )
        };
        if url.is_empty() {
            return Err("cluster: the database URL is empty".into());
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClusterConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_checks() {
        let c = parse(
            "name = \"desk\"\nagent_id = \"a-1\"\nurl_env = \"PGURL\"\nsslmode = \"disable\"\n",
        )
        .unwrap();
        assert_eq!(c.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(c.sslmode, SslMode::Disable);
        c.validate().unwrap();

        let c = parse("name = \"desk\"\nagent_id = \"a\"\nurl_env = \"PGURL\"\n").unwrap();
        assert_eq!(c.sslmode, SslMode::VerifyFull);
        assert!(c.validate().unwrap_err().contains("cluster.ca_file"));

        let e = parse("name = \"d\"\nagent_id = \"a\"\nurl = \"postgres://x\"\n").unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        let e = parse("name = \"d\"\nagent_id = \"a\"\nsslmode = \"prefer\"\n").unwrap_err();
        assert!(e.contains("unknown variant"), "{e}");

        let both = parse(
            "name = \"d\"\nagent_id = \"a\"\nurl_env = \"X\"\nurl_file = \"f\"\nsslmode = \"disable\"\n",
        )
        .unwrap();
        assert!(both.validate().unwrap_err().contains("exactly one"));
        let bad_id =
            parse("name = \"d\"\nagent_id = \"a b\"\nurl_env = \"X\"\nsslmode = \"disable\"\n")
                .unwrap();
        assert!(bad_id.validate().unwrap_err().contains("cluster.agent_id"));
        let slow = parse(
            "name = \"d\"\nagent_id = \"a\"\nurl_env = \"X\"\nsslmode = \"disable\"\ntimeout_ms = 0\n",
        )
        .unwrap();
        assert!(slow.validate().unwrap_err().contains("cluster.timeout_ms"));
    }

    #[test]
    fn url_from_env_and_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("url");
        std::fs::write(&f, "postgresql://u:p@localhost/db\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut c =
            parse("name = \"d\"\nagent_id = \"a\"\nurl_file = \"url\"\nsslmode = \"disable\"\n")
                .unwrap();
        c.resolve_paths(dir.path());
        assert_eq!(
            c.read_url().unwrap().as_str(),
            "postgresql://u:p@localhost/db"
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(c.read_url().unwrap_err().contains("cluster.url_file"));

        let c = parse(
            "name = \"d\"\nagent_id = \"a\"\nurl_env = \"TRADEWARD_TEST_NO_SUCH_VAR\"\nsslmode = \"disable\"\n",
        )
        .unwrap();
        assert!(c.read_url().unwrap_err().contains("cluster.url_env"));
    }
}
