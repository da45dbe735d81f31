//! The Rust client across agent restarts (`Client::with_reconnect`): a bot's
//! connection survives an orderly restart and a kill, a call made while the
//! agent is down waits for it, and an agent that never comes back is a
//! clear `AgentUnavailable`, not a hang. Real agent, real socket, real
//! SoftHSM token; signatures checked with the `p256` crate.

mod common;

use std::time::{Duration, Instant};

use common::{Env, hexf, key};
use p256::ecdsa::signature::Verifier;
use serde_json::json;
use tradeward::client::{Client, ClientError, Reconnect};

fn env() -> Env {
    let env = Env::new();
    env.generate("p256", "p2");
    env.write_config(&[key("p256", "p256", "p2")], "", "");
    env
}

/// Sign `msg` and check the signature against the key's public key.
fn sign_and_verify(c: &mut Client, pk: &p256::ecdsa::VerifyingKey, msg: &[u8]) {
    let r = c
        .call("sign", json!({"key": "p256", "message": hex::encode(msg)}))
        .expect("sign");
    let sig = p256::ecdsa::Signature::from_slice(&hexf(&r, "signature")).unwrap();
    pk.verify(msg, &sig).expect("signature verifies");
}

fn public_key(c: &mut Client) -> p256::ecdsa::VerifyingKey {
    let keys = c.list_keys().unwrap();
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&hexf(&keys[0], "public_key")).unwrap()
}

#[test]
fn calls_survive_restarts_and_kills_and_wait_for_the_agent() {
    let env = env();
    let mut agent = env.start_agent();
    let policy = Reconnect {
        give_up_after: Duration::from_secs(60),
        ..Reconnect::default()
    };
    let mut c = Client::connect(&env.sock).unwrap().with_reconnect(policy);
    let pk = public_key(&mut c);
    sign_and_verify(&mut c, &pk, b"before");

    // Orderly restart: the next call goes out on a new connection.
    assert!(agent.stop().success());
    let mut agent = env.start_agent();
    sign_and_verify(&mut c, &pk, b"after a restart");

    // Killed: the same.
    agent.child.kill().unwrap();
    agent.child.wait().unwrap();
    let mut agent = env.start_agent();
    sign_and_verify(&mut c, &pk, b"after a kill");

    // Down when the call is made: the call waits until the agent is back.
    assert!(agent.stop().success());
    let mut agent = std::thread::scope(|s| {
        let starter = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            env.start_agent()
        });
        let t = Instant::now();
        sign_and_verify(&mut c, &pk, b"made while the agent was down");
        assert!(t.elapsed() >= Duration::from_millis(400), "did not wait");
        starter.join().unwrap()
    });
    assert!(agent.stop().success());
}

#[test]
fn an_agent_that_stays_down_is_reported_within_the_policy() {
    let env = env();
    let mut agent = env.start_agent();
    let policy = Reconnect {
        give_up_after: Duration::from_secs(1),
        ..Reconnect::default()
    };
    let mut c = Client::connect(&env.sock).unwrap().with_reconnect(policy);
    c.call("ping", json!({})).unwrap();
    assert!(agent.stop().success());
    let t = Instant::now();
    let e = c.call("ping", json!({})).unwrap_err();
    assert!(matches!(e, ClientError::AgentUnavailable { .. }), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // Without a policy a lost connection stays an error at once.
    let mut agent = env.start_agent();
    let mut plain = Client::connect(&env.sock).unwrap();
    plain.call("ping", json!({})).unwrap();
    assert!(agent.stop().success());
    assert!(plain.call("ping", json!({})).is_err());
}
