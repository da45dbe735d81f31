//! One connection to the cluster's database: the URL from `[cluster]`,
//! TLS as `sslmode` says, and the session settings every shared decision
//! relies on (synchronous commit; server-side deadlines as a backstop of
//! the agent's own).

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres::config::SslMode as PgSslMode;

use super::ClusterError;
use super::config::{ClusterConfig, SslMode};

/// The NOTIFY channel of operator events; the payload is the cluster.
pub const CHANNEL: &str = "tradeward";

/// The connection settings: the URL from `cluster.url_file` or
/// `cluster.url_env`, parsed once, with this agent's name and deadline.
/// Errors name the setting and never contain the URL.
pub fn settings(cfg: &ClusterConfig) -> Result<tokio_postgres::Config, ClusterError> {
    let url = cfg.read_url().map_err(ClusterError::Setup)?;
    // tokio-postgres's parse errors describe the syntax, never the URL.
    let mut pg: tokio_postgres::Config = url.parse().map_err(|e| {
        ClusterError::Setup(format!(
            "cluster: the database URL (from {}) does not parse: {e}",
            url_source(cfg)
        ))
    })?;
    pg.application_name(format!("tradeward/{}", cfg.agent_id));
    pg.connect_timeout(Duration::from_millis(cfg.timeout_ms));
    // cluster.sslmode decides, whatever the URL says.
    pg.ssl_mode(match cfg.sslmode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Require | SslMode::VerifyFull => PgSslMode::Require,
    });
    Ok(pg)
}

/// Open a connection and set up the session. The caller bounds the time.
pub async fn connect(
    cfg: &ClusterConfig,
    pg: &tokio_postgres::Config,
) -> Result<Client, ClusterError> {
    connect_with(cfg, pg, None).await
}

/// [`connect`], with the cluster's notifications (NOTIFY on the channel
/// `tradeward` with the cluster's name as payload) waking `wake`.
pub async fn connect_with(
    cfg: &ClusterConfig,
    pg: &tokio_postgres::Config,
    wake: Option<Arc<tokio::sync::Notify>>,
) -> Result<Client, ClusterError> {
    let wake = wake.map(|w| (w, cfg.name.clone()));
    let client = match cfg.sslmode {
        SslMode::Disable => {
            let (client, conn) = pg.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(drive(conn, wake));
            client
        }
        SslMode::Require | SslMode::VerifyFull => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(cfg)?);
            let (client, conn) = pg.connect(tls).await?;
            tokio::spawn(drive(conn, wake));
            client
        }
    };
    // Server-side deadlines: a statement or a transaction left open by an
    // agent that stopped answering cannot hold the cluster's locks for
    // longer than this.
    let ms = cfg.timeout_ms;
    client
        .batch_execute(&format!(
            "SET synchronous_commit = on; SET statement_timeout = {ms}; SET lock_timeout = {ms}; \
             SET idle_in_transaction_session_timeout = {}",
            ms.saturating_mul(2)
        ))
        .await?;
    Ok(client)
}

/// Which setting the URL came from, for errors.
pub fn url_source(cfg: &ClusterConfig) -> String {
    match (&cfg.url_file, &cfg.url_env) {
        (Some(f), _) => format!("cluster.url_file {}", f.display()),
        (None, Some(v)) => format!("cluster.url_env {v}"),
        (None, None) => "nowhere".into(),
    }
}

/// Run the connection until it closes, handing the cluster's
/// notifications to `wake`.
async fn drive<S, T>(
    mut conn: tokio_postgres::Connection<S, T>,
    wake: Option<(Arc<tokio::sync::Notify>, String)>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
            Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                if let Some((w, cluster)) = &wake
                    && n.channel() == CHANNEL
                    && n.payload() == cluster
                {
                    w.notify_one();
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cluster database connection closed");
                break;
            }
            None => break,
        }
    }
}

fn tls_config(cfg: &ClusterConfig) -> Result<rustls::ClientConfig, ClusterError> {
    // ring rather than aws-lc-rs: no C toolchain beyond cc and no cmake in
    // the build. rustls deprecates ring's provider for lacking
    // post-quantum key exchange, which PostgreSQL servers do not offer yet.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClusterError::Setup(format!("cluster: TLS set-up: {e}")))?;
    let config = match (cfg.sslmode, &cfg.ca_file) {
        (SslMode::VerifyFull, Some(ca)) => {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca).map_err(|e| {
                ClusterError::Setup(format!("cluster.ca_file {}: {e}", ca.display()))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    ClusterError::Setup(format!("cluster.ca_file {}: {e}", ca.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    ClusterError::Setup(format!("cluster.ca_file {}: {e}", ca.display()))
                })?;
            }
            if roots.is_empty() {
                return Err(ClusterError::Setup(format!(
                    "cluster.ca_file {} holds no certificate",
                    ca.display()
                )));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        (SslMode::Require, _) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
            .with_no_client_auth(),
        _ => {
            return Err(ClusterError::Setup(
                "cluster: sslmode verify-full needs ca_file".into(),
            ));
        }
    };
    Ok(config)
}

/// `sslmode = "require"`: any server certificate is accepted (as libpq's
/// `require` without a root file), but the handshake's signatures are
/// still checked against it.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
