//! PKCS#11 URIs as key references, through the real agent: in requests on
//! its socket and in its config. Every attribute is honoured (matched
//! against the token, module and key actually used) or refused with an
//! error naming it; PINs are refused wherever they appear.

mod common;

use common::{Env, key};
use serde_json::{Value, json};

/// A SoftHSM token with a secp256k1 key and an HMAC secret, both granted.
fn setup() -> Env {
    let env = Env::new();
    env.generate("secp256k1", "k1");
    env.generate("hmac", "mac");
    env.write_config(
        &[key("eth", "secp256k1", "k1"), key("api", "hmac", "mac")],
        "",
        "",
    );
    env
}

/// The module path and token serial the starter config and token use.
fn module_and_serial(env: &Env) -> (String, String) {
    let text = std::fs::read_to_string(&env.config).unwrap();
    let module = text
        .lines()
        .find_map(|l| l.strip_prefix("module = "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    let serial = env.list()["serial"].as_str().unwrap().to_string();
    (module, serial)
}

fn enc(s: &str) -> String {
    s.replace(' ', "%20")
}

/// Give key `eth` a `uri` instead of its label.
fn eth_uri(env: &Env, uri: &str) {
    let text = std::fs::read_to_string(&env.config).unwrap();
    let text = text.replace(
        "[keys.eth]\ntype = \"secp256k1\"\nlabel = \"k1\"",
        &format!("[keys.eth]\ntype = \"secp256k1\"\nuri = {uri:?}"),
    );
    assert!(text.contains(uri), "config not rewritten");
    std::fs::write(&env.config, text).unwrap();
}

fn check(env: &Env) -> (bool, String) {
    let out = env.run(&[
        "agent",
        "--check",
        "--config",
        common::path_str(&env.config),
    ]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn requests_honour_or_refuse_every_attribute() {
    let env = setup();
    let (module, serial) = module_and_serial(&env);
    let agent = env.start_agent();
    let mut c = agent.client();
    let digest = hex::encode([7u8; 32]);
    let sign = |c: &mut tradeward::client::Client, k: &str| {
        let params = if k.contains("mac") {
            json!({"key": k, "message": "00"})
        } else {
            json!({"key": k, "digest": digest})
        };
        c.call("sign", params)
    };

    // Honoured, and matching what the agent uses: signed with that key.
    let module_dir = std::path::Path::new(&module)
        .parent()
        .unwrap()
        .display()
        .to_string();
    for (uri, alias) in [
        ("pkcs11:object=k1".to_string(), "eth"),
        ("pkcs11:object=k1;type=private".into(), "eth"),
        (
            format!("pkcs11:token=tradeward-dev;serial={serial};object=k1"),
            "eth",
        ),
        (
            "pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2;object=k1".into(),
            "eth",
        ),
        (
            format!(
                "pkcs11:library-manufacturer=SoftHSM;library-description={};object=k1",
                enc("Implementation of PKCS11")
            ),
            "eth",
        ),
        (format!("pkcs11:object=k1?module-path={module}"), "eth"),
        (format!("pkcs11:object=k1?module-path={module_dir}"), "eth"),
        ("pkcs11:object=k1?module-name=softhsm2".into(), "eth"),
        ("pkcs11:object=mac;type=secret-key".into(), "api"),
    ] {
        let r: Value = sign(&mut c, &uri).unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(r["key"], alias, "{uri}");
    }

    // Honoured, but naming another token, module or key: no match.
    for uri in [
        "pkcs11:object=k1;token=other-token",
        "pkcs11:object=k1;serial=0000000000000000",
        "pkcs11:object=k1;manufacturer=Yubico",
        "pkcs11:object=k1;model=YubiHSM",
        "pkcs11:object=k1;library-manufacturer=Yubico",
        "pkcs11:object=k1;library-description=ykcs11",
        "pkcs11:object=k1;library-version=99.1",
        "pkcs11:object=k1?module-path=/usr/lib/libykcs11.so",
        "pkcs11:object=k1?module-name=ykcs11",
        "pkcs11:object=k1;id=%00",
        // An HMAC secret is not a private key, and the reverse.
        "pkcs11:object=mac;type=private",
        "pkcs11:object=k1;type=secret-key",
        // A URI must name a key, not only a token.
        "pkcs11:token=tradeward-dev",
    ] {
        let e = sign(&mut c, uri).expect_err(uri);
        assert_eq!(e.code(), Some("unknown_key"), "{uri}: {e}");
    }

    // Refused, with an error naming the attribute (and never the PIN).
    for (uri, attr) in [
        ("pkcs11:object=k1;pin-value=1234", "pin-value"),
        ("pkcs11:object=k1?pin-value=1234", "pin-value"),
        ("pkcs11:object=k1;pin-source=file:/tmp/pin", "pin-source"),
        ("pkcs11:object=k1?pin-source=file:/tmp/pin", "pin-source"),
        ("pkcs11:object=k1;type=public", "type"),
        ("pkcs11:object=k1;type=cert", "type"),
        ("pkcs11:object=k1;type=data", "type"),
        ("pkcs11:object=k1;slot-id=0", "slot-id"),
        (
            "pkcs11:object=k1;slot-description=SoftHSM",
            "slot-description",
        ),
        (
            "pkcs11:object=k1;slot-manufacturer=SoftHSM",
            "slot-manufacturer",
        ),
        ("pkcs11:object=k1;x-vendor=1", "x-vendor"),
        ("pkcs11:object=k1?x-vendor=1", "x-vendor"),
        ("pkcs11:object=k1;colour=red", "colour"),
    ] {
        let e = sign(&mut c, uri).expect_err(uri);
        let text = e.to_string();
        assert_eq!(e.code(), Some("bad_params"), "{uri}: {e}");
        assert!(text.contains(attr), "{uri}: {text}");
        assert!(
            !text.contains("1234") && !text.contains("/tmp/pin"),
            "{text}"
        );
    }
    // Every op that takes a key resolves it the way `sign` does; the
    // operator's halt scope too.
    let out = env.run(&["ctl", "halt", "--key", "pkcs11:object=k1;slot-id=0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("slot-id"), "{stderr}");
    assert!(!agent.log_text().contains("1234"));
}

#[test]
fn configs_honour_or_refuse_every_attribute() {
    let env = setup();
    let (module, serial) = module_and_serial(&env);
    // Honoured and matching: the agent starts.
    for uri in [
        format!(
            "pkcs11:token=tradeward-dev;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;\
             serial={serial};library-manufacturer=SoftHSM;object=k1;type=private\
             ?module-path={module}&module-name=softhsm2"
        ),
        format!(
            "pkcs11:library-description={}",
            enc("Implementation of PKCS11")
        ) + ";object=k1",
    ] {
        eth_uri(&env, &uri);
        let (ok, err) = check(&env);
        assert!(ok, "{uri}: {err}");
        // Put the label back for the next case.
        env.write_config(
            &[key("eth", "secp256k1", "k1"), key("api", "hmac", "mac")],
            "",
            "",
        );
    }
    // Refused before anything starts, naming the attribute; or naming
    // another token, module or key than the one in use.
    for (uri, want) in [
        ("pkcs11:object=k1;pin-value=1234", "pin-value"),
        ("pkcs11:object=k1?pin-value=1234", "pin-value"),
        ("pkcs11:object=k1;pin-source=file:/tmp/pin", "pin-source"),
        ("pkcs11:object=k1?pin-source=file:/tmp/pin", "pin-source"),
        ("pkcs11:object=k1;type=public", "type"),
        ("pkcs11:object=k1;type=secret-key", "type=secret-key"),
        ("pkcs11:object=k1;slot-id=0", "slot-id"),
        ("pkcs11:object=k1;slot-description=x", "slot-description"),
        ("pkcs11:object=k1;slot-manufacturer=x", "slot-manufacturer"),
        ("pkcs11:object=k1;x-vendor=1", "x-vendor"),
        ("pkcs11:object=k1?x-vendor=1", "x-vendor"),
        ("pkcs11:object=k1;colour=red", "colour"),
        ("pkcs11:object=k1;token=other-token", "token="),
        ("pkcs11:object=k1;serial=0000000000000000", "serial="),
        ("pkcs11:object=k1;manufacturer=Yubico", "manufacturer="),
        ("pkcs11:object=k1;model=YubiHSM", "model="),
        (
            "pkcs11:object=k1;library-manufacturer=Yubico",
            "library-manufacturer=",
        ),
        (
            "pkcs11:object=k1;library-description=ykcs11",
            "library-description=",
        ),
        ("pkcs11:object=k1;library-version=99.1", "library-version="),
        (
            "pkcs11:object=k1?module-path=/usr/lib/libykcs11.so",
            "module-path=",
        ),
        ("pkcs11:object=k1?module-name=ykcs11", "module-name="),
        ("pkcs11:token=tradeward-dev", "needs a label"),
    ] {
        eth_uri(&env, uri);
        let (ok, err) = check(&env);
        assert!(!ok, "{uri} was accepted");
        assert!(err.contains("keys.eth"), "{uri}: {err}");
        assert!(err.contains(want), "{uri}: {err}");
        assert!(!err.contains("1234") && !err.contains("/tmp/pin"), "{err}");
        env.write_config(
            &[key("eth", "secp256k1", "k1"), key("api", "hmac", "mac")],
            "",
            "",
        );
    }
    // A real start is refused the same way, before the socket exists.
    eth_uri(&env, "pkcs11:object=k1;pin-value=1234");
    let err = env.try_start_agent().err().expect("agent started");
    assert!(err.contains("pin-value"), "{err}");
    assert!(!err.contains("1234"), "{err}");
    assert!(!env.sock.exists());
}
