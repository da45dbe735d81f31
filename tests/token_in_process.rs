//! The worker's signing core against a real SoftHSM token, in this process:
//! recovery from a lost session, a logged-out token and a token removed
//! and re-inserted (its files moved away and back), and the
//! guarantee that a key's value cannot be read through PKCS#11.
//!
//! One test function only: SoftHSM reads SOFTHSM2_CONF from the process
//! environment when the module is initialised, so the cases share one token
//! and run in sequence.

mod common;

use std::path::PathBuf;

use common::Env;
use secrecy::SecretString;
use tradeward::backend::pkcs11::Token;
use tradeward::backend::worker::Signer;
use tradeward::backend::{KeySelector, TokenSelector};

#[test]
fn signer_recovers_and_keys_stay_inside() {
    let env = Env::new();
    env.generate("secp256k1", "k1");
    env.generate("hmac", "mac");
    let secret = b"0123456789abcdef0123456789abcdef-imported";
    assert!(env.import("hmac", "imp", secret).status.success());
    // SAFETY: the only test in this binary; no other thread reads the env.
    unsafe { std::env::set_var("SOFTHSM2_CONF", env.softhsm_conf()) };
    let module = PathBuf::from("/usr/lib/softhsm/libsofthsm2.so");
    let token = TokenSelector {
        label: Some("tradeward-dev".into()),
        serial: None,
    };
    let pin = SecretString::from(env.pin().trim().to_string());
    let sel = |l: &str| KeySelector {
        label: Some(l.into()),
        id: None,
    };
    let mut signer = Signer::open(
        module.clone(),
        &token,
        pin.clone(),
        vec![sel("k1"), sel("mac")],
    )
    .unwrap();
    let digest = [0x11u8; 32];
    assert_eq!(signer.sign(0, &digest).unwrap().len(), 64);

    // The session is closed under the signer's feet.
    signer.token_mut().drop_session_for_test().unwrap();
    assert_eq!(
        signer.sign(0, &digest).unwrap().len(),
        64,
        "after a lost session"
    );

    // The token is logged out.
    signer.token_mut().logout_for_test().unwrap();
    assert_eq!(signer.sign(0, &digest).unwrap().len(), 64, "after a logout");
    assert_eq!(signer.sign(1, b"m").unwrap().len(), 32);

    // The token disappears (its files move away) and comes back.
    let pulled = env.pull_token();
    // SoftHSM notices on the next operation: the signer reconnects, finds
    // no token and says so, retryably.
    let gone = signer.sign(0, &digest).unwrap_err();
    assert!(
        matches!(gone, tradeward::backend::BackendError::TokenNotFound(_)),
        "{gone:?}"
    );
    assert!(gone.retryable());
    // Re-inserted: the module is re-initialised, the token found again,
    // logged in, keys re-resolved.
    env.reinsert_token(&pulled);
    assert_eq!(
        signer.sign(0, &digest).unwrap().len(),
        64,
        "after re-insertion"
    );

    // Out-of-range key index is an error, not a panic.
    assert!(signer.sign(9, b"m").is_err());

    // CKA_VALUE of private and secret keys cannot be read.
    let t = Token::open(&module, &token).unwrap();
    t.login(&pin).unwrap();
    for l in ["k1", "mac", "imp"] {
        let (h, info) = t.find_key(&sel(l)).unwrap();
        assert!(info.sensitive && !info.extractable, "{l}");
        assert!(!t.can_read_value(h), "{l}: CKA_VALUE was readable");
    }
}
