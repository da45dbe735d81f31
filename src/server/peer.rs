//! Who is on the other end of a connection. The kernel tells us the peer's
//! uid, gid and pid (SO_PEERCRED); the config maps them to a named identity.
//! Nothing the client says about itself is trusted for this.

use std::collections::BTreeSet;

use crate::config::{Config, GrantedOp};

/// A connected, recognised peer.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
    pub keys: BTreeSet<String>,
    pub ops: BTreeSet<GrantedOp>,
    /// Connected on the admin socket as an operator uid: may use the
    /// operator ops and nothing else. Never true for a bot identity.
    pub operator: bool,
}

impl Identity {
    /// Resolve a peer; `None` if no identity claims its uid or gid.
    pub fn resolve(cfg: &Config, uid: u32, gid: u32, pid: Option<i32>) -> Option<Identity> {
        let (name, ic) = cfg.identity_for(uid, gid)?;
        Some(Identity {
            name: name.to_string(),
            uid,
            gid,
            pid,
            keys: ic.keys.iter().cloned().collect(),
            ops: ic.ops.iter().copied().collect(),
            operator: false,
        })
    }

    /// An operator on the admin socket, if `uid` is an operator uid.
    pub fn operator(cfg: &Config, uid: u32, gid: u32, pid: Option<i32>) -> Option<Identity> {
        if !cfg.operator_uids().contains(&uid) {
            return None;
        }
        Some(Identity {
            name: format!("operator:{uid}"),
            uid,
            gid,
            pid,
            keys: BTreeSet::new(),
            ops: BTreeSet::new(),
            operator: true,
        })
    }

    pub fn may(&self, op: GrantedOp) -> bool {
        self.ops.contains(&op)
    }

    pub fn may_use_key(&self, alias: &str) -> bool {
        self.keys.contains(alias)
    }
}
