//! The agent WebSocket, `/ws/agent?key=KEY[&group=G][&token=T|&ticket=T]` (see `docs/PROTOCOL.md`).
//!
//! The agent must be authenticated ([`crate::agent_api::authenticate`]: bearer header, `token`,
//! a single-use `ticket`, or the `glance_agent` cookie); otherwise it gets
//! `{"t":"error","code":"auth",..}` and the socket closes with 1008. Its identity (not a query
//! parameter) is what the visitor and the other agents see.
//!
//! An unknown key gets `{"t":"session","state":"notfound"}` and the socket stays open while the
//! server polls for the session once a second (the viewer's `wait=1` mode), for at most the
//! agent wait time. On join the agent gets `session` and the current `snap`, then every frame
//! published on the session's bus topic. A lagging agent (bus [`Delivery::Lagged`]) is
//! resynchronized with a fresh snapshot instead of buffering without bound; an agent whose socket
//! does not accept a frame within the send timeout is disconnected. Agents may send session
//! messages (`msg`), pause or resume the session (`pause`) and send remote-control and guidance
//! frames (`rc`, `a11y`, `act`, `nav`, `gesture`, `ptr`: see [`crate::remote`]; at most
//! [`crate::remote::PTR_PER_WINDOW`] pointer frames a second are relayed, the rest dropped).
//! Frames for this agent only (`actres`, `navres`) arrive on its direct queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::StreamExt;
use glance_cobrowse::protocol::{parse_agent, valid_session_key, AgentMsg};
use serde_json::json;
use tokio::sync::mpsc;

use crate::auth::Agent;
use crate::bus::Delivery;
use crate::remote::RateLimit;
use crate::sessions::{EndReason, Session, AGENT_QUEUE};
use crate::visitor_ws::{close, send, NORMAL, POLICY};
use crate::AppState;

/// Largest frame an agent may send.
const MAX_AGENT_MESSAGE: usize = 64 * 1024;

/// How often an agent waiting for an unknown session checks again.
const POLL: Duration = Duration::from_secs(1);

/// `GET /ws/agent`.
pub async fn handler(
    ws: WebSocketUpgrade,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    State(state): State<AppState>,
) -> Response {
    let key = q.get("key").cloned().unwrap_or_default();
    let group = q.get("group").cloned();
    let agent = crate::agent_api::authenticate(
        &state,
        &headers,
        q.get("token").map(String::as_str),
        q.get("ticket").map(String::as_str),
        true,
    );
    ws.max_message_size(MAX_AGENT_MESSAGE)
        .max_frame_size(MAX_AGENT_MESSAGE)
        .on_upgrade(move |socket| run(socket, state, key, agent, group))
}

fn notfound(key: &str) -> Message {
    Message::Text(
        json!({"t": "session", "key": key, "state": "notfound"})
            .to_string()
            .into(),
    )
}

/// What the agent sent while waiting or watching.
enum FromAgent {
    Msg(AgentMsg),
    Closed,
    Invalid(String),
    Ignore,
}

fn read(m: Option<Result<Message, axum::Error>>) -> FromAgent {
    match m {
        Some(Ok(Message::Text(t))) => match parse_agent(&t) {
            Ok(m) => FromAgent::Msg(m),
            Err(e) => FromAgent::Invalid(e.to_string()),
        },
        Some(Ok(Message::Binary(_))) => FromAgent::Invalid("binary frames are not accepted".into()),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => FromAgent::Ignore,
        Some(Ok(Message::Close(_))) | None => FromAgent::Closed,
        Some(Err(e)) => FromAgent::Invalid(format!("invalid frame: {e}")),
    }
}

async fn run(
    mut ws: WebSocket,
    state: AppState,
    key: String,
    agent: Option<Arc<Agent>>,
    group: Option<String>,
) {
    let Some(agent) = agent else {
        let err = json!({"t": "error", "code": "auth", "msg": "not authenticated"}).to_string();
        if send(&mut ws, Message::Text(err.into())).await {
            close(&mut ws, POLICY, "not authenticated").await;
        }
        return;
    };
    if !valid_session_key(&key) {
        if send(&mut ws, notfound(&key)).await {
            close(&mut ws, POLICY, "invalid session key").await;
        }
        return;
    }
    let Some(session) = wait_for_session(&mut ws, &state, &key, group.as_deref()).await else {
        return;
    };
    watch(ws, state, session, agent).await;
}

/// Polls until the session exists. `None` when the agent left, misbehaved or waited too long.
async fn wait_for_session(
    ws: &mut WebSocket,
    state: &AppState,
    key: &str,
    group: Option<&str>,
) -> Option<Arc<Session>> {
    let deadline = Instant::now() + state.opts.agent_wait;
    let mut told = false;
    loop {
        if let Some(s) = state.registry.find(group, key) {
            return Some(s);
        }
        if !told {
            if !send(ws, notfound(key)).await {
                return None;
            }
            told = true;
        }
        if Instant::now() >= deadline {
            close(ws, NORMAL, "session did not start").await;
            return None;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            m = ws.recv() => match read(m) {
                FromAgent::Msg(_) | FromAgent::Ignore => {}
                FromAgent::Closed => return None,
                FromAgent::Invalid(reason) => {
                    close(ws, POLICY, &reason).await;
                    return None;
                }
            }
        }
    }
}

async fn send_all(ws: &mut WebSocket, frames: Vec<axum::extract::ws::Utf8Bytes>) -> bool {
    for f in frames {
        if !send(ws, Message::Text(f)).await {
            return false;
        }
    }
    true
}

async fn watch(mut ws: WebSocket, state: AppState, session: Arc<Session>, agent: Arc<Agent>) {
    let id = state.registry.next_id();
    let (tx, mut direct) = mpsc::channel(AGENT_QUEUE);
    let Some(join) = session.join_agent(agent, id, tx) else {
        // Ended between the lookup and the join.
        let ended = json!({"t": "ended", "reason": "visitor"}).to_string();
        if send(&mut ws, Message::Text(ended.into())).await {
            close(&mut ws, NORMAL, "session ended").await;
        }
        return;
    };
    let mut sub = join.sub;
    let mut floor = join.floor;
    let trusted = state
        .registry
        .group_config(&session.group)
        .map(|g| g.trusted_domains.clone())
        .unwrap_or_default();
    let mut ptr_limit = RateLimit::new(Instant::now());
    if send_all(&mut ws, join.frames).await {
        loop {
            tokio::select! {
                Some(text) = direct.recv() => {
                    if !send(&mut ws, Message::Text(text.into())).await {
                        break;
                    }
                }
                d = sub.next() => match d {
                    Some(Delivery::Msg(m)) => {
                        if m.n > floor && !send(&mut ws, Message::Text(m.text)).await {
                            break;
                        }
                    }
                    Some(Delivery::Lagged(_)) => {
                        let (frames, n) = session.resync(id);
                        floor = n;
                        if !send_all(&mut ws, frames).await {
                            break;
                        }
                    }
                    None => {
                        // The topic closed: the session ended (its `ended` frame was delivered).
                        close(&mut ws, NORMAL, "session ended").await;
                        break;
                    }
                },
                m = ws.recv() => match read(m) {
                    FromAgent::Msg(AgentMsg::Snapreq) => {
                        let (frames, n) = session.resync(id);
                        floor = n;
                        if !send_all(&mut ws, frames).await {
                            break;
                        }
                    }
                    FromAgent::Msg(AgentMsg::End) => {
                        // The `ended` frame comes back through the bus, then the topic closes.
                        state.registry.end(&session, EndReason::Agent);
                    }
                    FromAgent::Msg(AgentMsg::Ptr { .. }) if !ptr_limit.allow(Instant::now()) => {
                        // Over the pointer rate: dropped.
                    }
                    FromAgent::Msg(m) => {
                        // Session messages, pause/resume and remote control go to the visitor;
                        // refusals come straight back.
                        match session.agent_message(id, &m, &trusted) {
                            Ok(replies) => {
                                if !send_all(&mut ws, replies.into_iter().map(Into::into).collect()).await {
                                    break;
                                }
                            }
                            Err(reason) => {
                                close(&mut ws, POLICY, &reason).await;
                                break;
                            }
                        }
                    }
                    FromAgent::Ignore => {}
                    FromAgent::Closed => break,
                    FromAgent::Invalid(reason) => {
                        close(&mut ws, POLICY, &reason).await;
                        break;
                    }
                }
            }
        }
    }
    session.leave_agent(id);
}
