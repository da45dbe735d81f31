//! One PKCS#11 token, opened in this process: module loading (checked against
//! an allow-list of directories, as ssh-agent's `-P` does), token selection,
//! login, key discovery, provisioning and raw signing.
//!
//! The agent never calls this from its own process for signing: it runs in
//! the worker processes (see `worker`), so that a crashing vendor module takes
//! down one worker rather than the agent. The operator CLI uses it directly.

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroize;

use super::{
    BackendError, KeyInfo, KeySelector, KeyType, SignMechanism, TokenIdentity, TokenSelector,
};
use crate::crypto::{self, oid};

/// Directories a PKCS#11 module may be loaded from unless the config says
/// otherwise. Loading a module runs its code inside the agent's workers, so
/// an attacker who can choose the path must not be able to choose the code.
pub const DEFAULT_MODULE_DIRS: &[&str] = &["/usr/lib", "/usr/lib64", "/usr/local/lib", "/opt"];

/// Check a module path against the allow-list. Both sides are canonicalised,
/// so `..` and symlinks cannot escape.
pub fn check_module_path(module: &Path, allowed: &[PathBuf]) -> Result<PathBuf, BackendError> {
    let real = module
        .canonicalize()
        .map_err(|e| BackendError::Module(format!("{}: {e}", module.display())))?;
    for dir in allowed {
        if let Ok(d) = dir.canonicalize()
            && real.starts_with(&d)
        {
            return Ok(real);
        }
    }
    Err(BackendError::Module(format!(
        "{} is not inside an allowed module directory ({}); add its directory to pkcs11.allowed_module_dirs",
        real.display(),
        allowed
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

fn ck(e: CkError) -> BackendError {
    BackendError::Token(e.to_string())
}

/// Errors after which a fresh session (and login) may succeed: the session
/// was closed, the token logged out, or the token removed and re-inserted.
pub fn is_session_loss(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid
                | RvError::CryptokiNotInitialized,
            _
        )
    )
}

/// An open token: a module, a slot, one logged-in (or not) session.
pub struct Token {
    ctx: Pkcs11,
    module: PathBuf,
    selector: TokenSelector,
    slot: Slot,
    session: Session,
    label: String,
    serial: String,
}

impl Token {
    /// Load `module` (already allow-list checked) and open the selected token.
    pub fn open(module: &Path, selector: &TokenSelector) -> Result<Token, BackendError> {
        let ctx = load(module)?;
        // SoftHSM 2.6 rewrites a token's file on every login by any process
        // and unlocks it before the new contents reach the file; a process
        // that starts in that moment reads an empty file and sees no token.
        // So "not found" is retried a few times (re-reading the token
        // store) before it is believed.
        let mut found = find_slot(&ctx, selector);
        for _ in 0..4 {
            if !matches!(found, Err(BackendError::TokenNotFound(_))) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
            let _ = ctx.clone().finalize();
            initialize(&ctx)?;
            found = find_slot(&ctx, selector);
        }
        let (slot, label, serial) = found?;
        let session = ctx.open_rw_session(slot).map_err(ck)?;
        Ok(Token {
            ctx,
            module: module.to_path_buf(),
            selector: selector.clone(),
            slot,
            session,
            label,
            serial,
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// What the token and library attributes of a PKCS#11 URI are checked
    /// against: this token's CK_TOKEN_INFO, the module's CK_INFO and the
    /// module's path.
    pub fn identity(&self) -> Result<TokenIdentity, BackendError> {
        let t = self.ctx.get_token_info(self.slot).map_err(ck)?;
        let l = self.ctx.get_library_info().map_err(ck)?;
        let v = l.library_version();
        Ok(TokenIdentity {
            label: self.label.clone(),
            serial: self.serial.clone(),
            manufacturer: t.manufacturer_id().trim_end().to_string(),
            model: t.model().trim_end().to_string(),
            library_manufacturer: l.manufacturer_id().trim_end().to_string(),
            library_description: l.library_description().trim_end().to_string(),
            library_version: (v.major(), v.minor()),
            modules: vec![self.module.clone()],
        })
    }

    /// Log in as the normal user. "Already logged in" counts as success: in
    /// PKCS#11 the login state is shared by all sessions of the process.
    pub fn login(&self, pin: &SecretString) -> Result<(), BackendError> {
        match self.session.login(UserType::User, Some(pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                Err(BackendError::Login("incorrect PIN".into()))
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                Err(BackendError::Login("PIN locked".into()))
            }
            // Any other PIN problem: retrying the same PIN cannot help.
            Err(
                e @ CkError::Pkcs11(
                    RvError::PinExpired
                    | RvError::PinInvalid
                    | RvError::PinLenRange
                    | RvError::UserPinNotInitialized
                    | RvError::UserTypeInvalid,
                    _,
                ),
            ) => Err(BackendError::Login(e.to_string())),
            // Anything else (the token went away, a device or general
            // error, a module that failed the call) did not judge the PIN:
            // worth retrying, with backoff. Only a rejected PIN stops the
            // retries, for fear of locking it.
            Err(e) => Err(BackendError::Token(format!("login: {e}"))),
        }
    }

    /// Replace a lost session: a new session on the token's slot if the
    /// token is still there; otherwise finalize and re-initialise the module
    /// (a re-inserted token can appear in another slot, and some modules
    /// only rescan slots at C_Initialize) and find the token again.
    pub fn reconnect(&mut self, pin: &SecretString) -> Result<(), BackendError> {
        let same = find_slot(&self.ctx, &self.selector).and_then(|(slot, ..)| {
            self.ctx
                .open_rw_session(slot)
                .map(|s| (slot, s))
                .map_err(ck)
        });
        let (slot, session) = match same {
            Ok(found) => found,
            Err(_) => {
                let _ = self.ctx.clone().finalize();
                initialize(&self.ctx)?;
                let (slot, label, serial) = find_slot(&self.ctx, &self.selector)?;
                self.label = label;
                self.serial = serial;
                (slot, self.ctx.open_rw_session(slot).map_err(ck)?)
            }
        };
        self.slot = slot;
        self.session = session;
        self.login(pin)
    }

    /// Close this token's session from outside the normal flow. Used by tests
    /// to simulate a token that dropped our session.
    #[cfg(feature = "test-hooks")]
    pub fn drop_session_for_test(&mut self) -> Result<(), BackendError> {
        let replacement = self.ctx.open_ro_session(self.slot).map_err(ck)?;
        let old = std::mem::replace(&mut self.session, replacement);
        old.close().map_err(ck)?;
        // The replacement is read-only and was opened after the others
        // closed: if it was the last session the login state is gone too.
        Ok(())
    }

    /// Log out all sessions of this process (tests: a logged-out token).
    #[cfg(feature = "test-hooks")]
    pub fn logout_for_test(&self) -> Result<(), BackendError> {
        self.session.logout().map_err(ck)
    }

    /// Find exactly one signing key.
    pub fn find_key(&self, sel: &KeySelector) -> Result<(ObjectHandle, KeyInfo), BackendError> {
        if sel.label.is_none() && sel.id.is_none() {
            return Err(BackendError::Invalid("a key needs a label or an id".into()));
        }
        let mut found = Vec::new();
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::SECRET_KEY] {
            let mut tmpl = vec![Attribute::Class(class)];
            if let Some(l) = &sel.label {
                tmpl.push(Attribute::Label(l.as_bytes().to_vec()));
            }
            if let Some(id) = &sel.id {
                tmpl.push(Attribute::Id(id.clone()));
            }
            found.extend(self.session.find_objects(&tmpl).map_err(ck)?);
        }
        match found.len() {
            0 => Err(BackendError::KeyNotFound(sel.to_string())),
            1 => {
                let h = found[0];
                let info = self.describe(h)?.ok_or_else(|| {
                    BackendError::Unsupported(format!(
                        "{sel}: not a secp256k1, P-256, Ed25519 or HMAC key"
                    ))
                })?;
                Ok((h, info))
            }
            n => Err(BackendError::Ambiguous(format!(
                "{n} keys match {sel}; select by id as well"
            ))),
        }
    }

    /// Every signing key in the token that tradeward understands.
    pub fn list_keys(&self) -> Result<Vec<KeyInfo>, BackendError> {
        let mut out = Vec::new();
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::SECRET_KEY] {
            for h in self
                .session
                .find_objects(&[Attribute::Class(class)])
                .map_err(ck)?
            {
                if let Some(info) = self.describe(h)? {
                    out.push(info);
                }
            }
        }
        out.sort_by(|a, b| a.label.cmp(&b.label).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Read a key's public attributes; `None` for key types we do not use.
    fn describe(&self, h: ObjectHandle) -> Result<Option<KeyInfo>, BackendError> {
        let attrs = self
            .session
            .get_attributes(
                h,
                &[
                    AttributeType::Class,
                    AttributeType::KeyType,
                    AttributeType::Label,
                    AttributeType::Id,
                    AttributeType::EcParams,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::Local,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                ],
            )
            .map_err(ck)?;
        let mut class = None;
        let mut kt = None;
        let (mut label, mut id, mut params) = (String::new(), Vec::new(), Vec::new());
        let (mut sensitive, mut extractable, mut local, mut always, mut never) =
            (false, true, false, false, false);
        for a in attrs {
            match a {
                Attribute::Class(c) => class = Some(c),
                Attribute::KeyType(k) => kt = Some(k),
                Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
                Attribute::Id(i) => id = i,
                Attribute::EcParams(p) => params = p,
                Attribute::Sensitive(b) => sensitive = b,
                Attribute::Extractable(b) => extractable = b,
                Attribute::Local(b) => local = b,
                Attribute::AlwaysSensitive(b) => always = b,
                Attribute::NeverExtractable(b) => never = b,
                _ => {}
            }
        }
        let key_type = match kt {
            Some(CkKeyType::EC) if params == oid::SECP256K1 => KeyType::Secp256k1,
            Some(CkKeyType::EC) if params == oid::P256 => KeyType::P256,
            Some(CkKeyType::EC_EDWARDS)
                if params == oid::ED25519 || params == oid::ED25519_NAME =>
            {
                KeyType::Ed25519
            }
            Some(CkKeyType::GENERIC_SECRET) | Some(CkKeyType::SHA256_HMAC)
                if class == Some(ObjectClass::SECRET_KEY) =>
            {
                KeyType::Hmac
            }
            _ => return Ok(None),
        };
        let public_key = if key_type == KeyType::Hmac {
            None
        } else {
            self.public_key_for(&label, &id, key_type)?
        };
        Ok(Some(KeyInfo {
            label,
            id,
            key_type,
            public_key,
            sensitive,
            extractable,
            local,
            always_sensitive: always,
            never_extractable: never,
            token_label: self.label.clone(),
            token_serial: self.serial.clone(),
            piv: None,
        }))
    }

    /// The public half of a key pair: the public-key object with the same
    /// CKA_ID (or, with no id, the same label).
    fn public_key_for(
        &self,
        label: &str,
        id: &[u8],
        kt: KeyType,
    ) -> Result<Option<Vec<u8>>, BackendError> {
        let mut tmpl = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
        if id.is_empty() {
            tmpl.push(Attribute::Label(label.as_bytes().to_vec()));
        } else {
            tmpl.push(Attribute::Id(id.to_vec()));
        }
        for h in self.session.find_objects(&tmpl).map_err(ck)? {
            let attrs = self
                .session
                .get_attributes(h, &[AttributeType::EcPoint])
                .map_err(ck)?;
            for a in attrs {
                if let Attribute::EcPoint(p) = a {
                    let point = crypto::unwrap_ec_point(&p);
                    let ok = match kt {
                        KeyType::Secp256k1 => crypto::secp256k1::verifying_key(&point).is_ok(),
                        KeyType::P256 => crypto::p256::verifying_key(&point).is_ok(),
                        KeyType::Ed25519 => crypto::ed25519::verifying_key(&point).is_ok(),
                        KeyType::Hmac => false,
                    };
                    if ok {
                        // Normalise ECDSA keys to uncompressed SEC1.
                        return Ok(Some(match kt {
                            KeyType::Secp256k1 => crypto::secp256k1::uncompressed(
                                &crypto::secp256k1::verifying_key(&point).expect("checked"),
                            ),
                            KeyType::P256 => crypto::p256::verifying_key(&point)
                                .expect("checked")
                                .to_sec1_point(false)
                                .as_bytes()
                                .to_vec(),
                            _ => point,
                        }));
                    }
                }
            }
        }
        Ok(None)
    }

    fn fresh_id(&self) -> Result<Vec<u8>, BackendError> {
        self.session.generate_random_vec(8).map_err(ck)
    }

    fn ensure_label_free(&self, label: &str) -> Result<(), BackendError> {
        if label.is_empty() {
            return Err(BackendError::Invalid("label must not be empty".into()));
        }
        let n = self
            .session
            .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .map_err(ck)?
            .len();
        if n > 0 {
            return Err(BackendError::Invalid(format!(
                "the token already holds an object labelled {label:?}"
            )));
        }
        Ok(())
    }

    /// Generate a key inside the token: token object, private, sensitive,
    /// never extractable.
    pub fn generate(&self, kt: KeyType, label: &str) -> Result<KeyInfo, BackendError> {
        self.ensure_label_free(label)?;
        let id = self.fresh_id()?;
        let lbl = label.as_bytes().to_vec();
        match kt {
            KeyType::Hmac => {
                let tmpl = vec![
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(CkKeyType::GENERIC_SECRET),
                    Attribute::ValueLen(32.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Sign(true),
                    Attribute::Verify(true),
                    Attribute::Label(lbl),
                    Attribute::Id(id.clone()),
                ];
                self.session
                    .generate_key(&Mechanism::GenericSecretKeyGen, &tmpl)
                    .map_err(ck)?;
            }
            _ => {
                let (mech, params) = match kt {
                    KeyType::Secp256k1 => (Mechanism::EccKeyPairGen, oid::SECP256K1),
                    KeyType::P256 => (Mechanism::EccKeyPairGen, oid::P256),
                    _ => (Mechanism::EccEdwardsKeyPairGen, oid::ED25519),
                };
                let public = vec![
                    Attribute::Token(true),
                    Attribute::Private(false),
                    Attribute::Verify(true),
                    Attribute::EcParams(params.to_vec()),
                    Attribute::Label(lbl.clone()),
                    Attribute::Id(id.clone()),
                ];
                let private = vec![
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Sign(true),
                    Attribute::Label(lbl),
                    Attribute::Id(id.clone()),
                ];
                self.session
                    .generate_key_pair(&mech, &public, &private)
                    .map_err(ck)?;
            }
        }
        self.find_key(&KeySelector {
            label: Some(label.into()),
            id: Some(id),
        })
        .map(|(_, info)| info)
    }

    /// Import an existing secret once; afterwards it is sensitive and not
    /// extractable like a generated key (but CKA_LOCAL stays false, so
    /// listings show it was not born on the device). `secret` is zeroized by
    /// the caller; the copies made here are zeroized before returning.
    pub fn import(&self, kt: KeyType, label: &str, secret: &[u8]) -> Result<KeyInfo, BackendError> {
        self.ensure_label_free(label)?;
        let id = self.fresh_id()?;
        let lbl = label.as_bytes().to_vec();
        match kt {
            KeyType::Hmac => {
                if secret.is_empty() {
                    return Err(BackendError::Invalid("the HMAC secret is empty".into()));
                }
                let mut tmpl = vec![
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(CkKeyType::GENERIC_SECRET),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Sign(true),
                    Attribute::Verify(true),
                    Attribute::Label(lbl),
                    Attribute::Id(id.clone()),
                    Attribute::Value(secret.to_vec()),
                ];
                let r = self.session.create_object(&tmpl);
                wipe(&mut tmpl);
                r.map_err(ck)?;
            }
            KeyType::Secp256k1 => {
                let sk = k256::ecdsa::SigningKey::from_slice(secret).map_err(|_| {
                    BackendError::Invalid(
                        "not a valid secp256k1 private key (need 32 bytes, 0 < k < n)".into(),
                    )
                })?;
                let point = crypto::secp256k1::uncompressed(sk.verifying_key());
                drop(sk);
                self.create_pair(CkKeyType::EC, oid::SECP256K1, &point, secret, &lbl, &id)?;
            }
            KeyType::Ed25519 => {
                // The private key is the RFC 8032 seed (CKA_VALUE as PKCS#11
                // 3.0 defines it for CKK_EC_EDWARDS).
                let seed: &[u8; 32] = secret.try_into().map_err(|_| {
                    BackendError::Invalid(format!(
                        "an Ed25519 private key is a 32-byte seed, not {} bytes",
                        secret.len()
                    ))
                })?;
                let sk = ed25519_dalek::SigningKey::from_bytes(seed);
                let point = sk.verifying_key().to_bytes();
                drop(sk);
                self.create_pair(
                    CkKeyType::EC_EDWARDS,
                    oid::ED25519,
                    &point,
                    secret,
                    &lbl,
                    &id,
                )?;
            }
            other => {
                return Err(BackendError::Invalid(format!(
                    "importing {other} keys is not supported; generate them on the token"
                )));
            }
        }
        // Prove the token can use what it accepted (SoftHSM, for one,
        // stores HMAC keys shorter than 32 bytes but refuses to sign with
        // them). An unusable key is removed again.
        let sel = KeySelector {
            label: Some(label.into()),
            id: Some(id),
        };
        let (h, info) = self.find_key(&sel)?;
        let probe = [0u8; 32];
        let signed = self.sign_raw(h, kt.mechanism(), &probe);
        // And that it signs with the key whose public half was stored next
        // to it (a token that read CKA_VALUE some other way would not).
        let matches = |sig: &[u8]| match (kt, info.public_key.as_deref()) {
            (KeyType::Hmac, _) => true,
            (KeyType::Ed25519, Some(pk)) => crypto::ed25519::verifying_key(pk)
                .and_then(|vk| crypto::ed25519::finish(&vk, &probe, sig))
                .is_ok(),
            (KeyType::Secp256k1, Some(pk)) => crypto::secp256k1::verifying_key(pk)
                .and_then(|vk| crypto::secp256k1::finish(&vk, &probe, sig))
                .is_ok(),
            _ => false,
        };
        if let Ok(sig) = &signed
            && !matches(sig)
        {
            let _ = self.delete(&sel);
            return Err(BackendError::Invalid(
                "the token stored the key but its signature does not verify with the public key \
                 derived from the imported secret; it was removed again"
                    .into(),
            ));
        }
        if let Err(e) = signed {
            let _ = self.delete(&sel);
            return Err(BackendError::Invalid(format!(
                "the token stored the key but cannot sign with it ({e}); it was removed again{}",
                if kt == KeyType::Hmac && secret.len() < 32 {
                    ". This token needs HMAC secrets of at least 32 bytes"
                } else {
                    ""
                }
            )));
        }
        Ok(info)
    }

    /// Store an imported key pair: the private key as a sensitive,
    /// non-extractable token object, then its public half (the private key
    /// is removed again if that fails). The template copy of the secret is
    /// wiped.
    fn create_pair(
        &self,
        kt: CkKeyType,
        params: &[u8],
        point: &[u8],
        secret: &[u8],
        label: &[u8],
        id: &[u8],
    ) -> Result<(), BackendError> {
        let public = vec![
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(kt),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(params.to_vec()),
            Attribute::EcPoint(crypto::der_octet_string(point)),
            Attribute::Label(label.to_vec()),
            Attribute::Id(id.to_vec()),
        ];
        let mut private = vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(kt),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::EcParams(params.to_vec()),
            Attribute::Label(label.to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::Value(secret.to_vec()),
        ];
        let r = self.session.create_object(&private);
        wipe(&mut private);
        let priv_handle = r.map_err(ck)?;
        if let Err(e) = self.session.create_object(&public) {
            let _ = self.session.destroy_object(priv_handle);
            return Err(ck(e));
        }
        Ok(())
    }

    /// Destroy a key and its public half.
    pub fn delete(&self, sel: &KeySelector) -> Result<KeyInfo, BackendError> {
        let (h, info) = self.find_key(sel)?;
        if info.key_type != KeyType::Hmac {
            let mut tmpl = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
            if info.id.is_empty() {
                tmpl.push(Attribute::Label(info.label.as_bytes().to_vec()));
            } else {
                tmpl.push(Attribute::Id(info.id.clone()));
            }
            for p in self.session.find_objects(&tmpl).map_err(ck)? {
                self.session.destroy_object(p).map_err(ck)?;
            }
        }
        self.session.destroy_object(h).map_err(ck)?;
        Ok(info)
    }

    /// Ask the token to sign `data` with `key`. Raw output: `r ‖ s` for
    /// ECDSA, 64 bytes for Ed25519, the MAC for HMAC.
    pub fn sign_raw(
        &self,
        key: ObjectHandle,
        mech: SignMechanism,
        data: &[u8],
    ) -> Result<Vec<u8>, CkError> {
        let m = match mech {
            SignMechanism::Ecdsa => Mechanism::Ecdsa,
            SignMechanism::Eddsa => Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
            SignMechanism::HmacSha256 => Mechanism::Sha256Hmac,
        };
        self.session.sign(&m, key, data)
    }

    /// Whether a key's secret value can be read back (it must not).
    pub fn can_read_value(&self, key: ObjectHandle) -> bool {
        match self.session.get_attributes(key, &[AttributeType::Value]) {
            Ok(attrs) => attrs
                .iter()
                .any(|a| matches!(a, Attribute::Value(v) if !v.is_empty())),
            Err(_) => false,
        }
    }
}

/// Load a module and initialise it. A module already initialised in this
/// process (loaded before, by us) is fine: PKCS#11 state is per process.
fn load(module: &Path) -> Result<Pkcs11, BackendError> {
    let ctx = Pkcs11::new(module)
        .map_err(|e| BackendError::Module(format!("{}: {e}", module.display())))?;
    initialize(&ctx)?;
    Ok(ctx)
}

fn initialize(ctx: &Pkcs11) -> Result<(), BackendError> {
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(BackendError::Module(format!("C_Initialize: {e}"))),
    }
}

/// Zeroize any secret values in a template before it is dropped.
fn wipe(tmpl: &mut [Attribute]) {
    for a in tmpl {
        if let Attribute::Value(v) = a {
            v.zeroize();
        }
    }
}

fn find_slot(ctx: &Pkcs11, sel: &TokenSelector) -> Result<(Slot, String, String), BackendError> {
    let slots = ctx.get_slots_with_token().map_err(ck)?;
    let mut seen = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        let label = info.label().trim_end().to_string();
        let serial = info.serial_number().trim_end().to_string();
        if !info.token_initialized() {
            continue;
        }
        let label_ok = sel.label.as_deref().is_none_or(|l| l == label);
        let serial_ok = sel.serial.as_deref().is_none_or(|s| s == serial);
        if label_ok && serial_ok {
            return Ok((slot, label, serial));
        }
        seen.push(format!("{label:?} (serial {serial})"));
    }
    let want = match (&sel.label, &sel.serial) {
        (Some(l), Some(s)) => format!("label {l:?} serial {s:?}"),
        (Some(l), None) => format!("label {l:?}"),
        (None, Some(s)) => format!("serial {s:?}"),
        (None, None) => "any initialised token".into(),
    };
    Err(BackendError::TokenNotFound(format!(
        "no token with {want}; present: {}",
        if seen.is_empty() {
            "none".into()
        } else {
            seen.join(", ")
        }
    )))
}

/// Initialise a token in the first free slot (SoftHSM offers one) and set
/// its user PIN. Used by `tradeward token init-dev`.
pub fn init_token(
    module: &Path,
    label: &str,
    so_pin: &SecretString,
    user_pin: &SecretString,
) -> Result<(String, String), BackendError> {
    let ctx = load(module)?;
    let mut free = None;
    for slot in ctx.get_slots_with_token().map_err(ck)? {
        let info = ctx.get_token_info(slot).map_err(ck)?;
        if info.token_initialized() {
            if info.label().trim_end() == label {
                return Err(BackendError::Invalid(format!(
                    "a token labelled {label:?} already exists"
                )));
            }
        } else if free.is_none() {
            free = Some(slot);
        }
    }
    let slot = free.ok_or_else(|| BackendError::TokenNotFound("no uninitialised slot".into()))?;
    ctx.init_token(slot, so_pin, label).map_err(ck)?;
    // The token may move to another slot id after initialisation (SoftHSM
    // does this); look it up again by label.
    let (slot, label, serial) = find_slot(
        &ctx,
        &TokenSelector {
            label: Some(label.into()),
            serial: None,
        },
    )?;
    let session = ctx.open_rw_session(slot).map_err(ck)?;
    session.login(UserType::So, Some(so_pin)).map_err(ck)?;
    session.init_pin(user_pin).map_err(ck)?;
    session.logout().map_err(ck)?;
    let _ = user_pin.expose_secret();
    Ok((label, serial))
}
