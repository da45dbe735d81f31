//! `eip712.sign_typed_data` through the real agent: signatures over the
//! EIP-712 specification's example recover (with k256, and with
//! `eth_account` where the SDK's python is available) to the key's address;
//! domains outside the key's allowlist, Hyperliquid's own domains and keys
//! without an allowlist are refused.

mod common;

use common::{Env, key};
use serde_json::{Value, json};

const TEST_KEY: &[u8] = b"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const ADDRESS: &str = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";

fn mail() -> Value {
    json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}
            ],
            "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
            "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"},
                     {"name": "contents", "type": "string"}]
        },
        "primaryType": "Mail",
        "domain": {"name": "Ether Mail", "version": "1", "chainId": 1,
                   "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
        "message": {
            "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
            "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
            "contents": "Hello, Bob!"
        }
    })
}

fn setup() -> Env {
    let env = Env::new();
    let out = env.import("secp256k1", "wallet", TEST_KEY);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.generate("secp256k1", "other");
    let mut keys = vec![
        key("wallet", "secp256k1", "wallet"),
        key("other", "secp256k1", "other"),
    ];
    keys[0].raw_signing = false;
    keys[1].raw_signing = false;
    env.write_config(&keys, "", "");
    let text = std::fs::read_to_string(&env.config).unwrap().replacen(
        "ops = [\"list_keys\", \"sign\"]",
        "ops = [\"list_keys\", \"eip712.sign_typed_data\"]",
        1,
    );
    let text = format!(
        "{text}\n[[keys.wallet.eip712.domains]]\nname = \"Ether Mail\"\nversion = \"1\"\nchain_id = 1\nverifying_contract = \"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC\"\n"
    );
    std::fs::write(&env.config, text).unwrap();
    env
}

fn recover(digest: &[u8], r: &Value) -> String {
    let sig = hex::decode(r["signature"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    let signature = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
    let vk = k256::ecdsa::VerifyingKey::recover_from_prehash(
        digest,
        &signature,
        k256::ecdsa::RecoveryId::from_byte(sig[64] - 27).unwrap(),
    )
    .unwrap();
    let point = vk.to_sec1_point(false);
    tradeward::crypto::eth::checksum_address(&tradeward::crypto::eth::address(point.as_bytes()))
}

#[test]
fn typed_data_signs_for_allowed_domains_only() {
    let env = setup();
    let agent = env.start_agent();
    let mut c = agent.client();
    let r = c
        .call(
            "eip712.sign_typed_data",
            json!({"key": "wallet", "typed_data": mail()}),
        )
        .unwrap();
    // The specification's published digest, and a signature k256 recovers.
    let digest = r["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("0x")
        .to_string();
    assert_eq!(
        digest,
        "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
    );
    assert_eq!(recover(&hex::decode(&digest).unwrap(), &r), ADDRESS);
    assert_eq!(r["address"], ADDRESS);
    // eth_account recovers it from the typed data itself.
    if let Some(python) = std::env::var_os("TRADEWARD_SDK_PYTHON") {
        let script = "import json,sys\nfrom eth_account import Account\nfrom eth_account.messages import encode_typed_data\nd=json.load(open(sys.argv[1]))\nprint(Account.recover_message(encode_typed_data(full_message=d['td']), signature=bytes.fromhex(d['sig'][2:] if d['sig'].startswith('0x') else d['sig'])))";
        let file = env.dir.path().join("td.json");
        std::fs::write(
            &file,
            json!({"td": mail(), "sig": r["signature"]}).to_string(),
        )
        .unwrap();
        let out = std::process::Command::new(python)
            .arg("-c")
            .arg(script)
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ADDRESS);
    } else {
        eprintln!("SKIPPED the eth_account check: set TRADEWARD_SDK_PYTHON (scripts/test.sh does)");
    }

    // Refused: another domain, Hyperliquid's domains, a key with no list,
    // malformed data. Each refusal is journaled.
    let mut other_chain = mail();
    other_chain["domain"]["chainId"] = json!(5);
    let mut exchange = mail();
    exchange["domain"]["name"] = json!("Exchange");
    let mut agent_type = mail();
    agent_type["types"]["Agent"] =
        json!([{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}]);
    agent_type["primaryType"] = json!("Agent");
    for (k, td, want) in [
        ("wallet", other_chain, "forbidden"),
        ("wallet", exchange, "forbidden"),
        ("wallet", agent_type, "forbidden"),
        ("other", mail(), "forbidden"),
        ("wallet", json!("nope"), "bad_params"),
        (
            "wallet",
            json!({"types": {}, "primaryType": "Mail", "domain": {}, "message": {}}),
            "bad_params",
        ),
    ] {
        let e = c
            .call(
                "eip712.sign_typed_data",
                json!({"key": k, "typed_data": td}),
            )
            .unwrap_err();
        assert_eq!(e.code(), Some(want), "{k}: {e}");
    }
    let recs: Vec<Value> = std::fs::read_to_string(env.journal_dir().join("segment-000001.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let denied = recs
        .iter()
        .filter(|r| {
            r["kind"] == "decision" && r["op"] == "eip712.sign_typed_data" && r["allow"] == false
        })
        .count();
    assert_eq!(denied, 6);
}

#[test]
fn raw_signing_is_refused_on_venue_keys_at_start() {
    let env = setup();
    let text = std::fs::read_to_string(&env.config).unwrap();
    // Turn raw signing on for the typed-data key: the config is refused.
    let text = text.replacen(
        "label = \"wallet\"\nraw_signing = false",
        "label = \"wallet\"\nraw_signing = true",
        1,
    );
    std::fs::write(&env.config, text).unwrap();
    let out = env.run(&[
        "agent",
        "--check",
        "--config",
        common::path_str(&env.config),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bypass the policy"));
}
