//! Where PINs come from: a file, an environment variable or an interactive
//! prompt — never argv. Whatever the source, the PIN ends up in a
//! zeroizing `SecretString` and the intermediate buffers are wiped.

use std::path::Path;

use secrecy::SecretString;
use zeroize::Zeroizing;

/// A configured PIN source.
#[derive(Debug, Clone)]
pub enum PinSource<'a> {
    File(&'a Path),
    Env(&'a str),
    Prompt,
}

/// Read the PIN. A PIN file must not be readable by group or others. An
/// environment variable is removed from the process environment after it is
/// read, so child processes do not inherit it.
pub fn read_pin(source: PinSource<'_>) -> Result<SecretString, String> {
    let pin = match source {
        PinSource::File(path) => {
            crate::harden::check_private_file(path, "PIN file", true)?;
            let raw = Zeroizing::new(
                std::fs::read(path).map_err(|e| format!("PIN file {}: {e}", path.display()))?,
            );
            let text =
                std::str::from_utf8(&raw).map_err(|_| "PIN file is not UTF-8".to_string())?;
            Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_string())
        }
        PinSource::Env(var) => {
            let v = std::env::var(var)
                .map_err(|_| format!("PIN environment variable {var} is not set"))?;
            // Start-up, before any other thread exists (the agent reads its
            // PIN before starting the runtime).
            crate::harden::remove_env_before_threads(var);
            Zeroizing::new(v)
        }
        PinSource::Prompt => Zeroizing::new(
            rpassword::prompt_password("Token PIN: ")
                .map_err(|e| format!("cannot read PIN from the terminal: {e}"))?,
        ),
    };
    if pin.is_empty() {
        return Err("the PIN is empty".into());
    }
    Ok(SecretString::from(pin.as_str().to_owned()))
}

/// Read a secret to import (from a file or stdin) as bytes, zeroizing.
/// Trailing CR/LF bytes are removed: `echo`, editors and terminals add them,
/// and no exchange secret ends in one.
pub fn read_secret(path: Option<&Path>) -> Result<Zeroizing<Vec<u8>>, String> {
    use std::io::Read;
    let mut buf = Zeroizing::new(Vec::new());
    match path {
        Some(p) if p != Path::new("-") => {
            crate::harden::check_private_file(p, "secret file", true)?;
            let mut f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
            f.read_to_end(&mut buf)
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
        _ => {
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("stdin: {e}"))?;
        }
    }
    while buf.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
        buf.pop();
    }
    Ok(buf)
}
