//! The op table: every operation the agent serves, its wire name and who
//! may call it. Dispatch parses the name into an [`Op`] once, checks the
//! caller's access, then matches on the enum; nothing else compares op
//! names as strings.

use crate::config::GrantedOp;

/// Every operation, bot and operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Hello,
    Ping,
    ListKeys,
    Sign,
    HyperliquidSignL1Action,
    HyperliquidSignUserAction,
    PriceUpdate,
    OrderReport,
    OrderOpen,
    RestSignRequest,
    Heartbeat,
    PositionReport,
    Eip712SignTypedData,
    Status,
    Halt,
    Resume,
    Rearm,
    Pause,
    Reload,
    Rotate,
    Rollback,
    Zeroize,
}

/// Who may call an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any known identity, on either socket (`hello`, `ping`).
    Anyone,
    /// A bot identity granted this op, on the bot socket.
    Granted(GrantedOp),
    /// An operator, on the admin socket only; `totp` when the operator's
    /// TOTP code, if one is set up, is checked for it. Every such op
    /// loosens something or destroys keys: lifting a halt, re-arming,
    /// pausing a switch, loading a new policy, changing or destroying keys.
    /// Halting and status never need one: stopping must stay easy.
    Operator { totp: bool },
}

impl Op {
    /// The bot ops, in the order `hello` lists them.
    pub const BOT: &[Op] = &[
        Op::Hello,
        Op::Ping,
        Op::ListKeys,
        Op::Sign,
        Op::HyperliquidSignL1Action,
        Op::HyperliquidSignUserAction,
        Op::PriceUpdate,
        Op::OrderReport,
        Op::OrderOpen,
        Op::RestSignRequest,
        Op::Heartbeat,
        Op::PositionReport,
        Op::Eip712SignTypedData,
    ];

    /// The operator ops (admin socket).
    pub const OPERATOR: &[Op] = &[
        Op::Status,
        Op::Halt,
        Op::Resume,
        Op::Rearm,
        Op::Pause,
        Op::Reload,
        Op::Rotate,
        Op::Rollback,
        Op::Zeroize,
    ];

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Op::Hello => "hello",
            Op::Ping => "ping",
            Op::Status => "status",
            Op::Halt => "halt",
            Op::Resume => "resume",
            Op::Rearm => "rearm",
            Op::Pause => "pause",
            Op::Reload => "reload",
            Op::Rotate => "rotate",
            Op::Rollback => "rollback",
            Op::Zeroize => "zeroize",
            // Listed beside the op whose grant serves it.
            Op::OrderOpen => "order.open",
            op => match op.access() {
                Access::Granted(g) => g.as_str(),
                _ => unreachable!("every other op is granted"),
            },
        }
    }

    /// Who may call it.
    pub fn access(self) -> Access {
        match self {
            Op::Hello | Op::Ping => Access::Anyone,
            Op::ListKeys => Access::Granted(GrantedOp::ListKeys),
            Op::Sign => Access::Granted(GrantedOp::Sign),
            Op::HyperliquidSignL1Action => Access::Granted(GrantedOp::HyperliquidSignL1Action),
            Op::HyperliquidSignUserAction => Access::Granted(GrantedOp::HyperliquidSignUserAction),
            Op::PriceUpdate => Access::Granted(GrantedOp::PriceUpdate),
            Op::OrderReport | Op::OrderOpen => Access::Granted(GrantedOp::OrderReport),
            Op::RestSignRequest => Access::Granted(GrantedOp::RestSignRequest),
            Op::Heartbeat => Access::Granted(GrantedOp::Heartbeat),
            Op::PositionReport => Access::Granted(GrantedOp::PositionReport),
            Op::Eip712SignTypedData => Access::Granted(GrantedOp::Eip712SignTypedData),
            Op::Status | Op::Halt => Access::Operator { totp: false },
            Op::Resume
            | Op::Rearm
            | Op::Pause
            | Op::Reload
            | Op::Rotate
            | Op::Rollback
            | Op::Zeroize => Access::Operator { totp: true },
        }
    }

    /// The op named `name` on the wire.
    pub fn parse(name: &str) -> Option<Op> {
        Op::BOT
            .iter()
            .chain(Op::OPERATOR)
            .copied()
            .find(|op| op.name() == name)
    }

    /// Wire names of `ops`, comma-separated (for error messages).
    pub fn names(ops: &[Op]) -> String {
        ops.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_parses_from_its_own_name_and_names_are_unique() {
        let all: Vec<Op> = Op::BOT.iter().chain(Op::OPERATOR).copied().collect();
        for op in &all {
            assert_eq!(Op::parse(op.name()), Some(*op));
        }
        let mut names: Vec<&str> = all.iter().map(|o| o.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert_eq!(Op::parse("HELLO"), None);
        assert_eq!(Op::parse(""), None);
    }

    #[test]
    fn every_grant_has_its_op_and_operator_ops_are_not_granted() {
        let granted: Vec<GrantedOp> = Op::BOT
            .iter()
            .filter_map(|o| match o.access() {
                Access::Granted(g) => Some(g),
                _ => None,
            })
            .collect();
        assert_eq!(granted.len(), 11);
        for op in Op::OPERATOR {
            assert!(matches!(op.access(), Access::Operator { .. }));
        }
        for op in Op::BOT {
            assert!(!matches!(op.access(), Access::Operator { .. }));
        }
    }
}
