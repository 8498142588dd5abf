//! The agent WebSocket, `/ws/agent?key=KEY&name=NAME[&group=G]` (see `docs/PROTOCOL.md`).
//!
//! An unknown key gets `{"t":"session","state":"notfound"}` and the socket stays open while the
//! server polls for the session once a second (the viewer's `wait=1` mode), for at most the
//! agent wait time. On join the agent gets `session` and the current `snap`, then every frame
//! published on the session's bus topic. A lagging agent (bus [`Delivery::Lagged`]) is
//! resynchronized with a fresh snapshot instead of buffering without bound; an agent whose socket
//! does not accept a frame within the send timeout is disconnected. Agents may send session
//! messages (`msg`) and pause or resume the session (`pause`); both go to the visitor.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::response::Response;
use futures_util::StreamExt;
use glance_cobrowse::protocol::{parse_agent, valid_session_key, AgentMsg};
use serde_json::json;

use crate::bus::Delivery;
use crate::sessions::{EndReason, Session};
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
    State(state): State<AppState>,
) -> Response {
    let key = q.get("key").cloned().unwrap_or_default();
    let name = q.get("name").cloned().unwrap_or_default();
    let group = q.get("group").cloned();
    ws.max_message_size(MAX_AGENT_MESSAGE)
        .max_frame_size(MAX_AGENT_MESSAGE)
        .on_upgrade(move |socket| run(socket, state, key, name, group))
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

async fn run(mut ws: WebSocket, state: AppState, key: String, name: String, group: Option<String>) {
    if !valid_session_key(&key) {
        if send(&mut ws, notfound(&key)).await {
            close(&mut ws, POLICY, "invalid session key").await;
        }
        return;
    }
    let Some(session) = wait_for_session(&mut ws, &state, &key, group.as_deref()).await else {
        return;
    };
    watch(ws, state, session, &name).await;
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

async fn watch(mut ws: WebSocket, state: AppState, session: Arc<Session>, name: &str) {
    let id = state.registry.next_id();
    let Some(join) = session.join_agent(name, id) else {
        // Ended between the lookup and the join.
        let ended = json!({"t": "ended", "reason": "visitor"}).to_string();
        if send(&mut ws, Message::Text(ended.into())).await {
            close(&mut ws, NORMAL, "session ended").await;
        }
        return;
    };
    let mut sub = join.sub;
    let mut floor = join.floor;
    if send_all(&mut ws, join.frames).await {
        loop {
            tokio::select! {
                d = sub.next() => match d {
                    Some(Delivery::Msg(m)) => {
                        if m.n > floor && !send(&mut ws, Message::Text(m.text)).await {
                            break;
                        }
                    }
                    Some(Delivery::Lagged(_)) => {
                        let (frames, n) = session.resync();
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
                        let (frames, n) = session.resync();
                        floor = n;
                        if !send_all(&mut ws, frames).await {
                            break;
                        }
                    }
                    FromAgent::Msg(AgentMsg::End) => {
                        // The `ended` frame comes back through the bus, then the topic closes.
                        state.registry.end(&session, EndReason::Agent);
                    }
                    FromAgent::Msg(m) => {
                        // Session messages and pause/resume go to the visitor.
                        if let Err(reason) = session.agent_message(&m) {
                            close(&mut ws, POLICY, &reason).await;
                            break;
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
