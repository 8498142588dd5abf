//! How the visitor's tabs of one site share one session (pure; the browser edge posts these
//! messages on a `BroadcastChannel` named by [`channel_name`]).
//!
//! - Only the active tab streams. A tab that gains focus (or user input) while another one has the
//!   session takes it over: it connects with the session id, the server replaces the other tab's
//!   socket, and it posts [`TabMsg::Active`]; the other tab stops capturing and emits `blur`, the new
//!   one emits `focus`.
//! - Two tabs calling `startSession` at once hold an election: each posts [`TabMsg::Claim`] and waits
//!   [`CLAIM_WAIT_MS`]; the lower claim ([`claim_wins`]) connects, the other waits for its
//!   [`TabMsg::Started`] and joins that session, so the site ends up in exactly one session.
//! - A tab that is live answers a claim with `Started`, and posts it when a session starts, so tabs
//!   opened before the session join it.
//! - [`TabMsg::End`] ends the session in every tab; [`TabMsg::Pause`] keeps the others' pause state
//!   current; [`TabMsg::Relay`] hands a message from a tab without a socket to the live one.

use alloc::format;
use alloc::string::String;

use crate::json::Obj;

/// How long a tab starting a session waits for competing claims (ms).
pub const CLAIM_WAIT_MS: u32 = 150;
/// How long a tab that lost an election waits for the winner's session (ms), then starts one.
pub const ADOPT_WAIT_MS: u32 = 8000;

/// The channel of a group's tabs.
pub fn channel_name(group: &str) -> String {
    format!("glance_cobrowse_{group}")
}

/// A message between the tabs of one site.
#[derive(Debug, Clone, PartialEq)]
pub enum TabMsg {
    /// A tab is about to start a session.
    Claim {
        /// The claiming tab.
        tab: String,
        /// Its claim (lower wins).
        at: f64,
    },
    /// A session exists; `info` is [`crate::session::SessionInfo::encode`]d.
    Started {
        /// The tab that has it.
        tab: String,
        /// The session.
        info: String,
    },
    /// `tab` is now the session's active tab.
    Active {
        /// The active tab.
        tab: String,
        /// The session id.
        sid: String,
    },
    /// The session ended (`reason` as in `sessionend`).
    End {
        /// The session id.
        sid: String,
        /// Why.
        reason: String,
    },
    /// The session was paused or resumed.
    Pause {
        /// The session id.
        sid: String,
        /// Paused or not.
        paused: bool,
    },
    /// A message for the server, from a tab without a socket (the live tab sends it).
    Relay {
        /// The session id.
        sid: String,
        /// The message (JSON text).
        line: String,
    },
}

impl TabMsg {
    /// The message as JSON text.
    pub fn encode(&self) -> String {
        match self {
            TabMsg::Claim { tab, at } => {
                Obj::new().str("t", "claim").str("tab", tab).num("at", *at)
            }
            TabMsg::Started { tab, info } => Obj::new()
                .str("t", "started")
                .str("tab", tab)
                .str("info", info),
            TabMsg::Active { tab, sid } => Obj::new()
                .str("t", "active")
                .str("tab", tab)
                .str("sid", sid),
            TabMsg::End { sid, reason } => Obj::new()
                .str("t", "end")
                .str("sid", sid)
                .str("reason", reason),
            TabMsg::Pause { sid, paused } => Obj::new()
                .str("t", "pause")
                .str("sid", sid)
                .bool("paused", *paused),
            TabMsg::Relay { sid, line } => Obj::new()
                .str("t", "relay")
                .str("sid", sid)
                .str("line", line),
        }
        .finish()
    }
}

/// True when claim `a` beats claim `b`: the earlier one, ties broken by the smaller tab id.
pub fn claim_wins(a: (f64, &str), b: (f64, &str)) -> bool {
    a.0 < b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// The `sessionend` reason for the server's `end` message reason.
pub fn end_reason(server: Option<&str>) -> &'static str {
    match server {
        Some("visitor") => "visitor",
        Some("timeout") => "timeout",
        Some("agent") | None => "agent",
        Some(_) => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_claim_wins() {
        let a = (100.0, "aa");
        let b = (100.5, "bb");
        assert!(claim_wins(a, b) && !claim_wins(b, a));
        let c = (100.0, "cc");
        assert!(claim_wins(a, c) && !claim_wins(c, a), "ties by tab id");
        assert!(!claim_wins(a, a));
    }

    #[test]
    fn messages_encode_as_json() {
        assert_eq!(
            TabMsg::Claim {
                tab: "t1".into(),
                at: 5.0
            }
            .encode(),
            r#"{"t":"claim","tab":"t1","at":5}"#
        );
        assert_eq!(
            TabMsg::End {
                sid: "s".into(),
                reason: "visitor".into()
            }
            .encode(),
            r#"{"t":"end","sid":"s","reason":"visitor"}"#
        );
        assert_eq!(
            TabMsg::Relay {
                sid: "s".into(),
                line: r#"{"t":"msg"}"#.into()
            }
            .encode(),
            r#"{"t":"relay","sid":"s","line":"{\"t\":\"msg\"}"}"#
        );
        assert_eq!(channel_name("1234"), "glance_cobrowse_1234");
    }

    #[test]
    fn end_reasons() {
        assert_eq!(end_reason(Some("agent")), "agent");
        assert_eq!(end_reason(None), "agent");
        assert_eq!(end_reason(Some("timeout")), "timeout");
        assert_eq!(end_reason(Some("visitor")), "visitor");
        assert_eq!(end_reason(Some("weird")), "error");
    }
}
