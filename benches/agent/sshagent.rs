//! OpenSSH's ssh-agent with the same SoftHSM P-256 key, for comparison.
//!
//! `ssh-agent -D -a SOCK -P ALLOWED` runs in the foreground;
//! `ssh-add -s MODULE` loads the token's keys into it through
//! ssh-pkcs11-helper, with the PIN supplied by a small askpass script
//! (SSH_ASKPASS_REQUIRE=force).
//!
//! OpenSSH 9.2's agent aborts (`fatal: decode key: unknown or unsupported
//! key type`) when the token holds an Ed25519 key, and every development
//! token holds one (the journal's audit key). So ssh-agent is given its
//! own SoftHSM configuration whose token folder is a copy of the token's
//! folder with only the token file and the P-256 key's two object files:
//! the same key, PIN and SoftHSM library, without the objects OpenSSH
//! cannot load.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::load::{SshConn, get_string};
use crate::setup::Env;

pub struct SshAgent {
    child: Child,
    pub sock: PathBuf,
}

impl SshAgent {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Ok(None) = self.child.try_wait() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The OpenSSH version, from `ssh -V`.
pub fn openssh_version() -> Option<String> {
    let out = Command::new("ssh").arg("-V").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Start ssh-agent and load the token's P-256 key into it.
pub fn start(env: &Env) -> Result<SshAgent, String> {
    let root = env.root.join("ssh");
    let tokens = root.join("tokens");
    let sub = env
        .token_dir
        .file_name()
        .ok_or("token folder has no name")?;
    let copy = tokens.join(sub);
    std::fs::create_dir_all(&copy).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;
    let mut files: Vec<String> = vec!["token.object".into()];
    for f in ["token.lock", "generation"] {
        if env.token_dir.join(f).exists() {
            files.push(f.into());
        }
    }
    files.extend(env.p256_files.iter().cloned());
    for f in &files {
        std::fs::copy(env.token_dir.join(f), copy.join(f)).map_err(|e| format!("{f}: {e}"))?;
    }
    let conf_text = std::fs::read_to_string(&env.softhsm_conf).map_err(|e| e.to_string())?;
    let original = env.tok.join("tokens");
    let conf_text = conf_text.replace(
        &original.display().to_string(),
        &tokens.display().to_string(),
    );
    let conf = root.join("softhsm2.conf");
    std::fs::write(&conf, conf_text).map_err(|e| e.to_string())?;
    let askpass = root.join("askpass.sh");
    std::fs::write(
        &askpass,
        format!(
            "#!/bin/sh\nexec cat {}\n",
            shell_quote(&env.pin_file.display().to_string())
        ),
    )
    .map_err(|e| e.to_string())?;
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| e.to_string())?;

    let sock = root.join("agent.sock");
    let module_dir = env
        .module
        .parent()
        .ok_or("module has no folder")?
        .display()
        .to_string();
    let child = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .arg("-P")
        .arg(format!("{module_dir}/*"))
        .env("SOFTHSM2_CONF", &conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("ssh-agent: {e}"))?;
    let mut agent = SshAgent {
        child,
        sock: sock.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        if let Ok(Some(s)) = agent.child.try_wait() {
            return Err(format!("ssh-agent exited: {s}"));
        }
        if Instant::now() > deadline {
            return Err("ssh-agent's socket did not appear".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = Command::new("ssh-add")
        .arg("-s")
        .arg(&env.module)
        .env("SSH_AUTH_SOCK", &sock)
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("SOFTHSM2_CONF", &conf)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ssh-add: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ssh-add -s failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if let Ok(Some(s)) = agent.child.try_wait() {
        return Err(format!("ssh-agent exited after ssh-add: {s}"));
    }
    Ok(agent)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Find the key blob of our P-256 key among the agent's identities.
pub fn find_blob(sock: &Path, p256_public: &[u8]) -> Result<Vec<u8>, String> {
    let mut c = SshConn::connect(sock)?;
    for (blob, _comment) in c.identities()? {
        let mut b: &[u8] = &blob;
        let kind = get_string(&mut b).unwrap_or_default();
        if kind != b"ecdsa-sha2-nistp256" {
            continue;
        }
        let _curve = get_string(&mut b);
        if get_string(&mut b) == Some(p256_public) {
            return Ok(blob);
        }
    }
    Err("ssh-agent does not hold the benchmark's P-256 key".into())
}

/// Sign once through ssh-agent and check the signature with the key's
/// public key (ssh's ECDSA signs SHA-256 of the data).
pub fn check_one_signature(sock: &Path, blob: &[u8], p256_public: &[u8]) -> Result<(), String> {
    let mut c = SshConn::connect(sock)?;
    let data = b"tradeward benchmark: ssh-agent signature check";
    c.set_sign_request(blob, data);
    crate::load::Conn::call(&mut c).map_err(|e| match e {
        crate::load::CallError::Remote(m) | crate::load::CallError::Io(m) => m,
    })?;
    let body = c.last();
    let mut b: &[u8] = &body[1..];
    let sig = get_string(&mut b).ok_or("short sign response")?;
    let mut s: &[u8] = sig;
    let kind = get_string(&mut s).ok_or("short signature")?;
    if kind != b"ecdsa-sha2-nistp256" {
        return Err(format!(
            "signature of type {}",
            String::from_utf8_lossy(kind)
        ));
    }
    let inner = get_string(&mut s).ok_or("short signature")?;
    let mut i: &[u8] = inner;
    let r = get_string(&mut i).ok_or("no r")?;
    let sv = get_string(&mut i).ok_or("no s")?;
    let mut raw = [0u8; 64];
    let (lo, hi) = raw.split_at_mut(32);
    for (src, dst) in [(r, lo), (sv, hi)] {
        // mpints carry a leading zero when the top bit is set.
        let src = &src[src.len().saturating_sub(32)..];
        dst[32 - src.len()..].copy_from_slice(src);
    }
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(p256_public).map_err(|e| e.to_string())?;
    let digest: [u8; 32] = Sha256::digest(data).into();
    let sig = p256::ecdsa::Signature::from_slice(&raw).map_err(|e| e.to_string())?;
    vk.verify_prehash(&digest, &sig)
        .map_err(|e| format!("ssh-agent's signature does not verify: {e}"))
}
