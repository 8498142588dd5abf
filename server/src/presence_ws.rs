//! The presence WebSockets: `/ws/presence/visitor?groupid=G` and
//! `/ws/presence/agent?groupid=G&visitorid=ID` (or `&uniqueid=N`) (see `docs/PROTOCOL.md`,
//! "Presence").
//!
//! The visitor's first frame is `hello` (its own id) or `unique` (a server-assigned 6-digit id);
//! the agent's first frame is `{"t":"auth","token":JWT}`. Both must come within the hello
//! timeout. Anything malformed gets an `error` frame and a close with 1008 and a reason.
//! Frames to a socket go through a bounded channel owned by the [`crate::presence`] registry.

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::presence::{self, invoke_allowed, valid_visitor_id, PresenceError, CHANNEL, GRACE};
use crate::visitor_ws::{close, send, POLICY};
use crate::AppState;

/// Largest frame from a presence visitor.
pub const MAX_VISITOR_MESSAGE: usize = 32 * 1024;
/// Largest frame from a presence agent.
pub const MAX_AGENT_MESSAGE: usize = 64 * 1024;

fn text(s: impl Into<String>) -> Message {
    Message::Text(s.into().into())
}

async fn refuse(ws: &mut WebSocket, code: &str, msg: &str) {
    let err = json!({"t": "error", "code": code, "msg": msg}).to_string();
    if send(ws, text(err)).await {
        close(ws, POLICY, msg).await;
    }
}

/// The next text frame parsed as a JSON object with a string `t`; `Err(reason)` for anything
/// else, `Ok(None)` when the socket ended.
async fn next_frame(ws: &mut WebSocket) -> Result<Option<Value>, String> {
    loop {
        match ws.recv().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).map_err(|_| "invalid JSON".to_string())?;
                if !v.is_object() || !v["t"].is_string() {
                    return Err("a frame must be an object with a string \"t\"".into());
                }
                return Ok(Some(v));
            }
            Some(Ok(Message::Binary(_))) => return Err("binary frames are not accepted".into()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Err(e)) => return Err(format!("invalid frame: {e}")),
        }
    }
}

fn group_of(state: &AppState, q: &HashMap<String, String>) -> Option<String> {
    q.get("groupid")
        .filter(|g| state.registry.group_config(g).is_some())
        .cloned()
}

/// `GET /ws/presence/visitor?groupid=G`.
pub async fn visitor_handler(
    ws: WebSocketUpgrade,
    Query(q): Query<HashMap<String, String>>,
    State(state): State<AppState>,
) -> Response {
    let group = group_of(&state, &q);
    ws.max_message_size(MAX_VISITOR_MESSAGE)
        .max_frame_size(MAX_VISITOR_MESSAGE)
        .on_upgrade(move |socket| run_visitor(socket, state, group))
}

async fn run_visitor(mut ws: WebSocket, state: AppState, group: Option<String>) {
    let Some(group) = group else {
        return refuse(&mut ws, "invalidprotocol", "unknown groupid").await;
    };
    let first = tokio::time::timeout(state.opts.hello_timeout, next_frame(&mut ws)).await;
    let first = match first {
        Err(_) => return refuse(&mut ws, "invalidprotocol", "no hello in time").await,
        Ok(Ok(Some(v))) => v,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => return refuse(&mut ws, "invalidprotocol", &e).await,
    };
    let reg = &state.presence;
    let mut unique = false;
    let id = match first["t"].as_str() {
        Some("hello") => match first["visitorid"].as_str().filter(|i| valid_visitor_id(i)) {
            Some(i) => i.to_string(),
            None => return refuse(&mut ws, "invalidprotocol", "invalid visitorid").await,
        },
        Some("unique") => match reg.unique(&group) {
            Ok((id, expires)) => {
                unique = true;
                let f = json!({"t": "unique", "uniqueid": id, "expires": expires});
                if !send(&mut ws, text(f.to_string())).await {
                    return;
                }
                id
            }
            Err(e) => return refuse(&mut ws, e.code(), "no unique id available").await,
        },
        _ => {
            return refuse(
                &mut ws,
                "invalidprotocol",
                "the first frame must be hello or unique",
            )
            .await
        }
    };
    let (tx, mut rx) = mpsc::channel::<String>(CHANNEL);
    let (conn, pending) = match reg.visitor_connect(&group, &id, tx) {
        Ok(x) => x,
        Err(e) => return refuse(&mut ws, e.code(), "presence is full").await,
    };
    let mut ok = send(
        &mut ws,
        text(json!({"t": "welcome", "visitorid": id}).to_string()),
    )
    .await;
    for f in pending {
        ok = ok && send(&mut ws, text(f)).await;
    }
    while ok {
        tokio::select! {
            out = rx.recv() => match out {
                Some(f) => ok = send(&mut ws, text(f)).await,
                None => {
                    // Replaced by a newer socket of the same visitor.
                    close(&mut ws, crate::visitor_ws::REPLACED, "replaced").await;
                    break;
                }
            },
            inc = next_frame(&mut ws) => match inc {
                Ok(Some(v)) => {
                    if let Err(reason) = visitor_frame(&state, &group, &id, unique, v, &mut ws).await {
                        refuse(&mut ws, "invalidprotocol", &reason).await;
                        break;
                    }
                }
                Ok(None) => break,
                Err(reason) => {
                    refuse(&mut ws, "invalidprotocol", &reason).await;
                    break;
                }
            },
        }
    }
    if reg.visitor_disconnect(&group, &id, conn) {
        let reg = state.presence.clone();
        tokio::spawn(async move {
            tokio::time::sleep(GRACE + std::time::Duration::from_millis(50)).await;
            reg.expire(&group, &id, std::time::Instant::now());
        });
    }
}

/// Handles one visitor frame after the first; `Err(reason)` closes the socket.
async fn visitor_frame(
    state: &AppState,
    group: &str,
    id: &str,
    unique: bool,
    v: Value,
    ws: &mut WebSocket,
) -> Result<(), String> {
    let reg = &state.presence;
    match v["t"].as_str().unwrap_or("") {
        "presence" => {
            let Some(data) = v["data"].as_object() else {
                return Err("presence data must be an object".into());
            };
            reg.merge_data(group, id, data.clone())
                .map_err(|_| "presence data too large (16 KB at most)".to_string())
        }
        "visibility" => match v["visibility"].as_str() {
            Some(vis @ ("hidden" | "visible")) => {
                reg.visitor_event(group, id, json!({"t": "visibility", "visibility": vis}));
                Ok(())
            }
            _ => Err("visibility must be hidden or visible".into()),
        },
        "event" => {
            let data = &v["data"];
            if !data.is_object() {
                return Err("event data must be an object".into());
            }
            let frame = match v["name"].as_str() {
                Some("terms") => match data["status"].as_str() {
                    Some(s @ ("displayed" | "accepted" | "declined")) => {
                        json!({"t": "terms", "status": s})
                    }
                    _ => return Err("terms status must be displayed, accepted or declined".into()),
                },
                Some("sessionstart") => json!({"t": "visitorsessionstart", "data": data}),
                Some("sessionend") => json!({"t": "visitorsessionend", "data": data}),
                Some("error") => json!({"t": "visitorerror", "data": data}),
                _ => return Err("unknown event name".into()),
            };
            reg.visitor_event(group, id, frame);
            Ok(())
        }
        "invokeres" => {
            let ok = v["ok"].as_bool().ok_or("invokeres needs a boolean ok")?;
            let idn = v["id"].as_u64().ok_or("invokeres needs a numeric id")?;
            let func = v["func"]
                .as_str()
                .filter(|f| f.len() <= 128)
                .ok_or("invokeres needs func")?;
            let mut frame = json!({"t": "invokeres", "id": idn, "ok": ok, "func": func});
            match v.get("reason") {
                None | Some(Value::Null) => {}
                Some(Value::String(r)) if r.len() <= 32 => frame["reason"] = json!(r),
                _ => return Err("invalid invokeres reason".into()),
            }
            reg.visitor_event(group, id, frame);
            Ok(())
        }
        "extend" if unique => match reg.extend(group, id) {
            Some(expires) => {
                let f = json!({"t": "unique", "uniqueid": id, "expires": expires});
                send(ws, text(f.to_string())).await;
                Ok(())
            }
            None => Err("the unique id has expired".into()),
        },
        other => Err(format!("unknown frame type {other:?}")),
    }
}

/// `GET /ws/presence/agent?groupid=G&visitorid=ID` (or `&uniqueid=N`).
pub async fn agent_handler(
    ws: WebSocketUpgrade,
    Query(q): Query<HashMap<String, String>>,
    State(state): State<AppState>,
) -> Response {
    let group = group_of(&state, &q);
    let target = match (q.get("visitorid"), q.get("uniqueid")) {
        (Some(v), None) => Some((v.clone(), false)),
        (None, Some(u)) => Some((u.clone(), true)),
        _ => None,
    };
    ws.max_message_size(MAX_AGENT_MESSAGE)
        .max_frame_size(MAX_AGENT_MESSAGE)
        .on_upgrade(move |socket| run_agent(socket, state, group, target))
}

async fn connfail(ws: &mut WebSocket, detail: &str, reason: &str) {
    let f = json!({"t": "error", "error": "connfail", "detail": detail});
    if send(ws, text(f.to_string())).await {
        close(ws, POLICY, reason).await;
    }
}

async fn run_agent(
    mut ws: WebSocket,
    state: AppState,
    group: Option<String>,
    target: Option<(String, bool)>,
) {
    let Some(group) = group else {
        return connfail(&mut ws, "error", "unknown groupid").await;
    };
    let Some((id, by_unique)) = target.filter(|(i, _)| valid_visitor_id(i)) else {
        return connfail(&mut ws, "error", "invalid visitorid or uniqueid").await;
    };
    let first = tokio::time::timeout(state.opts.hello_timeout, next_frame(&mut ws)).await;
    let token = match &first {
        Ok(Ok(Some(v))) if v["t"] == "auth" => v["token"].as_str().unwrap_or(""),
        Ok(Ok(None)) => return,
        _ => "",
    };
    let reg = state.presence.clone();
    if let Err(e) = crate::jwt::verify(reg.secret(), token, &group, crate::auth::unix_now()) {
        return connfail(&mut ws, "authorization", &e.to_string()).await;
    }
    if by_unique && !reg.unique_valid(&group, &id) {
        return connfail(&mut ws, "error", "unknown or expired uniqueid").await;
    }
    let (tx, mut rx) = mpsc::channel::<String>(CHANNEL);
    let (conn, init) = match reg.subscribe(&group, &id, tx) {
        Ok(x) => x,
        Err(e) => return connfail(&mut ws, "error", e.code()).await,
    };
    let mut ok = true;
    for f in init {
        ok = ok && send(&mut ws, text(f)).await;
    }
    while ok {
        tokio::select! {
            out = rx.recv() => match out {
                Some(f) => ok = send(&mut ws, text(f)).await,
                None => break,
            },
            inc = next_frame(&mut ws) => match inc {
                Ok(Some(v)) => match agent_frame(&reg, &group, &id, &v) {
                    Ok(ack) => ok = send(&mut ws, text(ack.to_string())).await,
                    Err(reason) => {
                        refuse(&mut ws, "invalid", &reason).await;
                        break;
                    }
                },
                Ok(None) => break,
                Err(reason) => {
                    refuse(&mut ws, "invalid", &reason).await;
                    break;
                }
            },
        }
    }
    reg.unsubscribe(&group, &id, conn);
}

/// The `signal` / `invoke` frame sent to the visitor for a REST or socket request, checked
/// against the allow-list. `idn`: the agent's id (0 for REST).
pub fn visitor_request(mtype: &str, idn: u64, data: &Value) -> Result<String, PresenceError> {
    match mtype {
        "signal" => Ok(json!({"t": "signal", "data": data}).to_string()),
        "invoke" => {
            let func = data["func"].as_str().ok_or(PresenceError::Invalid)?;
            if !invoke_allowed(func) {
                return Err(PresenceError::Forbidden);
            }
            let args = match &data["args"] {
                Value::Null => json!({}),
                a @ Value::Object(_) => a.clone(),
                _ => return Err(PresenceError::Invalid),
            };
            Ok(json!({"t": "invoke", "id": idn, "func": func, "args": args}).to_string())
        }
        _ => Err(PresenceError::Invalid),
    }
}

/// Handles one agent frame: the `ack` to send back, or `Err(reason)` to close the socket.
fn agent_frame(
    reg: &presence::Presence,
    group: &str,
    id: &str,
    v: &Value,
) -> Result<Value, String> {
    let t = v["t"].as_str().unwrap_or("");
    if t != "signal" && t != "invoke" {
        return Err(format!("unknown frame type {t:?}"));
    }
    let idn = v["id"]
        .as_u64()
        .filter(|n| *n <= 1 << 53)
        .ok_or("id must be a whole number")?;
    let data = if t == "signal" {
        v["data"].clone()
    } else {
        json!({"func": v["func"], "args": v["args"]})
    };
    let res = visitor_request(t, idn, &data).and_then(|f| reg.to_visitor(group, id, f));
    Ok(match res {
        Ok(()) => json!({"t": "ack", "id": idn, "ok": true}),
        Err(e) => json!({"t": "ack", "id": idn, "ok": false, "reason": e.code()}),
    })
}
