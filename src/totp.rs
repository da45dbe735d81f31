//! TOTP (RFC 6238, HMAC-SHA-1, 30-second steps, 6 digits): the optional
//! second factor an operator gives for the operations that loosen limits
//! or touch keys (`server::ops::Op`'s access: resume, rearm, pause,
//! reload, rotate, rollback, zeroize).
//!
//! Why: the admin socket authenticates a uid, and anything running as that
//! uid passes. A code from the operator's authenticator app means a
//! compromised process of the operator's uid still cannot undo a halt or
//! destroy keys on its own.
//!
//! Codes are accepted one step either side of now (clock drift), and each
//! operator's codes only move forwards: a code (or an older one) that was
//! used once is refused, so a code seen over a shoulder or in a log cannot
//! be replayed.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;

/// The code for `counter` (RFC 4226 dynamic truncation).
pub fn code_at(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac =
        <Hmac<Sha1> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = (h[h.len() - 1] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    bin % 10u32.pow(digits)
}

/// Decode a base32 secret as authenticator apps show it (spaces and
/// lower case allowed, padding optional).
pub fn decode_secret(text: &str) -> Result<Vec<u8>, String> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let bytes = data_encoding::BASE32_NOPAD
        .decode(clean.as_bytes())
        .map_err(|e| format!("not base32: {e}"))?;
    if bytes.len() < 10 {
        return Err("a TOTP secret needs at least 80 bits (16 base32 characters)".into());
    }
    Ok(bytes)
}

/// One operator's TOTP state.
pub struct Totp {
    secret: SecretBox<Vec<u8>>,
    /// The last step whose code was accepted.
    last_used: Option<u64>,
    /// Wrong codes in a row, and until when (secs) no code is checked.
    failures: u32,
    locked_until: u64,
}

/// Wrong codes in a row before codes stop being checked for a while: with
/// 3 codes valid at a time out of 10^6, guessing must not be cheap.
pub const MAX_FAILURES: u32 = 5;
/// How long (secs) codes stop being checked after that.
pub const LOCKOUT_SECS: u64 = 300;

/// Why a code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("this operation needs a TOTP code from your authenticator (param \"totp\", --totp)")]
    Required,
    #[error("wrong TOTP code")]
    Wrong,
    #[error("this TOTP code was already used; wait for the next one")]
    Reused,
    #[error("too many wrong TOTP codes; try again in {0} s")]
    LockedOut(u64),
}

impl Totp {
    pub fn new(secret: Vec<u8>) -> Totp {
        Totp {
            secret: SecretBox::new(Box::new(secret)),
            last_used: None,
            failures: 0,
            locked_until: 0,
        }
    }

    /// Check `code` at `now_secs`; on success it can never be used again.
    pub fn verify(&mut self, code: Option<&str>, now_secs: u64) -> Result<(), TotpError> {
        let code = code.ok_or(TotpError::Required)?;
        if now_secs < self.locked_until {
            return Err(TotpError::LockedOut(self.locked_until - now_secs));
        }
        let r = self.check(code, now_secs);
        match r {
            Err(TotpError::Wrong) => {
                self.failures += 1;
                if self.failures >= MAX_FAILURES {
                    self.failures = 0;
                    self.locked_until = now_secs + LOCKOUT_SECS;
                }
            }
            Ok(()) => self.failures = 0,
            _ => {}
        }
        r
    }

    fn check(&mut self, code: &str, now_secs: u64) -> Result<(), TotpError> {
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TotpError::Wrong);
        }
        let want: u32 = code.parse().map_err(|_| TotpError::Wrong)?;
        let now = now_secs / STEP_SECS;
        let mut matched = None;
        for step in [now.saturating_sub(1), now, now + 1] {
            if code_at(self.secret.expose_secret(), step, DIGITS) == want {
                matched = Some(step);
                break;
            }
        }
        let step = matched.ok_or(TotpError::Wrong)?;
        if self.last_used.is_some_and(|l| step <= l) {
            return Err(TotpError::Reused);
        }
        self.last_used = Some(step);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8 digits).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, want) in [
            (59u64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(code_at(secret, t / 30, 8), want, "T={t}");
        }
    }

    #[test]
    fn window_replay_and_format() {
        let secret = b"12345678901234567890".to_vec();
        let mut t = Totp::new(secret.clone());
        let at = |s: u64| format!("{:06}", code_at(&secret, s / 30, 6));
        assert_eq!(t.verify(None, 59), Err(TotpError::Required));
        assert_eq!(t.verify(Some("12345"), 59), Err(TotpError::Wrong));
        assert_eq!(t.verify(Some("abcdef"), 59), Err(TotpError::Wrong));
        // One step early is fine (drift); the same code again is not.
        assert_eq!(t.verify(Some(&at(90)), 100), Ok(()));
        assert_eq!(t.verify(Some(&at(90)), 100), Err(TotpError::Reused));
        // Nor an older one; a newer one is.
        assert_eq!(t.verify(Some(&at(60)), 100), Err(TotpError::Reused));
        assert_eq!(t.verify(Some(&at(120)), 125), Ok(()));
        // Two steps off is wrong.
        assert_eq!(t.verify(Some(&at(300)), 230), Err(TotpError::Wrong));
        // Guessing locks codes out, even the right one, for a while.
        for _ in 0..MAX_FAILURES - 1 {
            assert_eq!(t.verify(Some("000000"), 400), Err(TotpError::Wrong));
        }
        assert!(matches!(
            t.verify(Some(&at(400)), 400),
            Err(TotpError::LockedOut(_))
        ));
        assert_eq!(
            t.verify(Some(&at(400 + LOCKOUT_SECS)), 400 + LOCKOUT_SECS),
            Ok(())
        );
    }

    #[test]
    fn secrets_decode_like_authenticator_apps_show_them() {
        assert_eq!(
            decode_secret("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap(),
            b"12345678901234567890"
        );
        assert!(decode_secret("GEZDGNBV").is_err());
        assert!(decode_secret("not base32!").is_err());
    }
}
