//! Signatures made by the token through the agent, checked by verifiers we
//! did not write: `k256`, `p256`, `ed25519-dalek` and `hmac`.

mod common;

use common::{Env, hexf, key};
use hmac::{Hmac, KeyInit, Mac};
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sha3::Keccak256;

const HMAC_SECRET: &[u8] = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

fn setup() -> (Env, common::Agent, Value) {
    let env = Env::new();
    env.generate("secp256k1", "k1");
    env.generate("p256", "p2");
    env.generate("ed25519", "ed");
    env.generate("hmac", "mac");
    let out = env.import("hmac", "api", HMAC_SECRET);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.write_config(
        &[
            key("eth", "secp256k1", "k1"),
            key("p256", "p256", "p2"),
            key("ed", "ed25519", "ed"),
            key("mac", "hmac", "mac"),
            key("api", "hmac", "api"),
        ],
        "",
        "",
    );
    let agent = env.start_agent();
    let keys = Value::Array(agent.client().list_keys().unwrap());
    (env, agent, keys)
}

fn find<'a>(keys: &'a Value, alias: &str) -> &'a Value {
    keys.as_array()
        .unwrap()
        .iter()
        .find(|k| k["alias"] == alias)
        .unwrap()
}

fn recover_address(digest: &[u8], sig65: &[u8]) -> String {
    let sig = k256::ecdsa::Signature::from_slice(&sig65[..64]).unwrap();
    let recid = k256::ecdsa::RecoveryId::from_byte(sig65[64] - 27).unwrap();
    let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(digest, &sig, recid).unwrap();
    let point = vk.to_sec1_point(false);
    let hash = Keccak256::digest(&point.as_bytes()[1..]);
    format!("0x{}", hex::encode(&hash[12..]))
}

#[test]
fn every_key_type_verifies_with_an_independent_library() {
    let (_env, agent, keys) = setup();
    let mut c = agent.client();

    // secp256k1: digest, message (Keccak-256) and EIP-191.
    let eth = find(&keys, "eth");
    let address = eth["address"].as_str().unwrap().to_lowercase();
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&hexf(eth, "public_key")).unwrap();
    let msg = b"tradeward test message";
    let cases: Vec<(Value, [u8; 32])> = vec![
        (
            json!({"key": "eth", "digest": hex::encode([7u8; 32])}),
            [7u8; 32],
        ),
        (
            json!({"key": "eth", "message": hex::encode(msg)}),
            Keccak256::digest(msg).into(),
        ),
        (
            json!({"key": "eth", "message": hex::encode(msg), "scheme": "eip191"}),
            {
                let mut h = Keccak256::new();
                h.update(format!("\x19Ethereum Signed Message:\n{}", msg.len()));
                h.update(msg);
                h.finalize().into()
            },
        ),
    ];
    for (params, digest) in cases {
        let r = c.call("sign", params).unwrap();
        assert_eq!(hexf(&r, "digest"), digest);
        let sig = hexf(&r, "signature");
        assert_eq!(sig.len(), 65);
        let parsed = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
        assert!(parsed.normalize_s() == parsed, "high s");
        vk.verify_prehash(&digest, &parsed).unwrap();
        assert_eq!(recover_address(&digest, &sig), address);
        assert_eq!(r["v"].as_u64().unwrap() as u8, sig[64]);
    }

    // P-256: raw and DER over SHA-256 of the message, and over a digest.
    let p = find(&keys, "p256");
    let pvk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&hexf(p, "public_key")).unwrap();
    let r = c
        .call("sign", json!({"key": "p256", "message": hex::encode(msg)}))
        .unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&hexf(&r, "signature")).unwrap();
    p256::ecdsa::signature::Verifier::verify(&pvk, msg, &sig).unwrap();
    let r = c
        .call(
            "sign",
            json!({"key": "p256", "message": hex::encode(msg), "format": "der"}),
        )
        .unwrap();
    let der = p256::ecdsa::DerSignature::from_bytes(&hexf(&r, "signature")).unwrap();
    p256::ecdsa::signature::Verifier::verify(&pvk, msg, &der).unwrap();
    let d: [u8; 32] = Sha256::digest(b"pre-hashed").into();
    let r = c
        .call("sign", json!({"key": "p256", "digest": hex::encode(d)}))
        .unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&hexf(&r, "signature")).unwrap();
    pvk.verify_prehash(&d, &sig).unwrap();

    // Ed25519: pure EdDSA over the message.
    let ed = find(&keys, "ed");
    let evk = ed25519_dalek::VerifyingKey::from_bytes(&hexf(ed, "public_key").try_into().unwrap())
        .unwrap();
    assert_eq!(
        ed["public_key_base58"].as_str().unwrap(),
        bs58::encode(evk.as_bytes()).into_string()
    );
    for m in [&b""[..], msg, &[0u8; 1000][..]] {
        let r = c
            .call("sign", json!({"key": "ed", "message": hex::encode(m)}))
            .unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&hexf(&r, "signature")).unwrap();
        evk.verify_strict(m, &sig).unwrap();
    }

    // HMAC-SHA256 with an imported secret: the `hmac` crate computes the
    // same MAC. The query string is the venue documentation's example.
    let query = b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    let r = c
        .call("sign", json!({"key": "api", "message": hex::encode(query)}))
        .unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(HMAC_SECRET).unwrap();
    mac.update(query);
    let want = mac.finalize().into_bytes();
    assert_eq!(hexf(&r, "signature"), want.as_slice());
    assert_eq!(
        hex::encode(want),
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    );
    // A generated HMAC key: deterministic, and different per message.
    let a = c
        .call("sign", json!({"key": "mac", "message": "01"}))
        .unwrap();
    let b = c
        .call("sign", json!({"key": "mac", "message": "01"}))
        .unwrap();
    let z = c
        .call("sign", json!({"key": "mac", "message": "02"}))
        .unwrap();
    assert_eq!(a["signature"], b["signature"]);
    assert_ne!(a["signature"], z["signature"]);
    assert_eq!(hexf(&a, "signature").len(), 32);
}

#[test]
fn ten_thousand_secp256k1_signatures_are_low_s_and_recover_the_address() {
    let (_env, agent, keys) = setup();
    let eth = find(&keys, "eth");
    let address = eth["address"].as_str().unwrap().to_lowercase();
    let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&hexf(eth, "public_key")).unwrap();
    const TOTAL: usize = 10_000;
    const THREADS: usize = 4;
    const WINDOW: usize = 32;
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let agent = &agent;
                s.spawn(move || {
                    let mut c = agent.client();
                    let mut out = Vec::new();
                    let mine: Vec<usize> = (0..TOTAL).filter(|i| i % THREADS == t).collect();
                    for chunk in mine.chunks(WINDOW) {
                        // Pipeline a window of requests, then collect them.
                        let mut ids = std::collections::HashMap::new();
                        for &i in chunk {
                            let digest: [u8; 32] = Sha256::digest((i as u64).to_be_bytes()).into();
                            let id = c
                                .send("sign", json!({"key": "eth", "digest": hex::encode(digest)}))
                                .unwrap();
                            ids.insert(id, digest);
                        }
                        for _ in chunk {
                            let resp = c.recv().unwrap();
                            let id = resp["id"].as_u64().unwrap();
                            let digest = ids.remove(&id).expect("answer to a request we sent");
                            let r = tradeward::client::result_of(resp).unwrap();
                            out.push((digest, hexf(&r, "signature")));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(results.len(), TOTAL);
    let mut high_s_seen = 0;
    for (digest, sig) in &results {
        let parsed = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
        if parsed.normalize_s() != parsed {
            high_s_seen += 1;
        }
        vk.verify_prehash(digest, &parsed).unwrap();
        assert_eq!(recover_address(digest, sig), address);
    }
    assert_eq!(high_s_seen, 0, "signatures with high s were released");
}

#[test]
fn an_imported_secp256k1_key_signs_for_its_known_address() {
    let env = Env::new();
    // A widely published test key; its address is known independently.
    let out = env.import(
        "secp256k1",
        "migrated",
        b"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        info["address"],
        "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
    );
    assert_eq!(
        info["local"], false,
        "imported keys must not claim to be generated on the device"
    );
    assert_eq!(info["sensitive"], true);
    assert_eq!(info["extractable"], false);
    env.write_config(&[key("old", "secp256k1", "migrated")], "", "");
    let agent = env.start_agent();
    let r = agent.client().sign_digest("old", &[9u8; 32]).unwrap();
    assert_eq!(
        recover_address(&[9u8; 32], &hexf(&r, "signature")),
        "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"
    );
    assert_eq!(r["address"], "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
}
