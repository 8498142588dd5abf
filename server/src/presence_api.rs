//! The presence HTTP API: `POST /api/agent/authorize` (JWTs for a group), `GET /lookupvisitor`,
//! `GET /findvisitor`, `POST /signalvisitor` (see `docs/PROTOCOL.md`, "Presence").
//!
//! CORS: a request with an `Origin` header is served only for this server's own origin or an
//! `agent_origins` entry, and the answer names that origin (never `*`, never credentials);
//! other origins get 403 `{"error":"origin"}`. Preflights (`OPTIONS`) are answered with 204.

use std::collections::HashMap;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::auth::{self, AuthError};
use crate::jwt;
use crate::presence::PresenceError;
use crate::AppState;

fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({ "error": code }))).into_response()
}

/// CORS and the origin allow-list of the presence routes.
pub async fn cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|h| h.to_str().ok())
        .and_then(crate::handoff::canonical_origin);
    if req.headers().contains_key(header::ORIGIN)
        && !crate::agent_api::origin_allowed(&state, req.headers())
    {
        return error(StatusCode::FORBIDDEN, "origin");
    }
    let mut res = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    if let Some(v) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        crate::agent_api::allow_cross_origin(h, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `POST /api/agent/authorize`: agent credentials + `groupid` (+ `duration` minutes, default 60,
/// at most 120) -> `{"token":JWT,"expires":UNIXSECS}`.
pub async fn authorize(State(state): State<AppState>, body: String) -> Response {
    let v: Value = match serde_json::from_str(&body) {
        Ok(v @ Value::Object(_)) if body.len() <= 8192 => v,
        _ => return error(StatusCode::BAD_REQUEST, AuthError::BadRequest.code()),
    };
    let group = match &v["groupid"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if state.registry.group_config(&group).is_none() {
        return error(StatusCode::BAD_REQUEST, AuthError::BadRequest.code());
    }
    let minutes = match &v["duration"] {
        Value::Null => 60,
        d => match d.as_u64().filter(|m| (1..=jwt::MAX_MINUTES).contains(m)) {
            Some(m) => m,
            None => return error(StatusCode::BAD_REQUEST, AuthError::BadRequest.code()),
        },
    };
    let now = auth::unix_now();
    let agent = match auth::check_request(state.registry.config(), &v, now) {
        Ok(a) => a,
        Err(AuthError::BadRequest) => {
            return error(StatusCode::BAD_REQUEST, AuthError::BadRequest.code())
        }
        Err(e) => return error(StatusCode::UNAUTHORIZED, e.code()),
    };
    let exp = now + minutes * 60;
    let token = jwt::issue(state.presence.secret(), &agent, &group, now, exp);
    Json(json!({"token": token, "expires": exp})).into_response()
}

/// The group and visitor id of a REST request once its bearer token is checked for that group.
fn check(
    state: &AppState,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<(String, String), Box<Response>> {
    let group = q.get("groupid").cloned().unwrap_or_default();
    let id = q.get("visitorid").cloned().unwrap_or_default();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .unwrap_or("");
    if jwt::verify(state.presence.secret(), token, &group, auth::unix_now()).is_err() {
        return Err(Box::new(error(StatusCode::UNAUTHORIZED, "authorization")));
    }
    if !crate::presence::valid_visitor_id(&id) {
        return Err(Box::new(error(StatusCode::BAD_REQUEST, "invalid")));
    }
    Ok((group, id))
}

/// `(direct, directserver, port)` from the request's `Host`.
fn server_of(headers: &HeaderMap) -> (String, String, u16) {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| crate::http::safe_host(h))
        .unwrap_or("localhost");
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(']') || n.starts_with('[') => match p.parse() {
            Ok(p) => (n.to_string(), p),
            Err(_) => (host.to_string(), 80),
        },
        _ => (host.to_string(), 80),
    };
    (format!("{name}:{port}"), name, port)
}

/// `GET /lookupvisitor?groupid=G&visitorid=ID`.
pub async fn lookup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (group, id) = match check(&state, &headers, &q) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some(found) = state.presence.lookup(&group, &id) else {
        return error(StatusCode::NOT_FOUND, PresenceError::VisitorNotFound.code());
    };
    let (direct, server, port) = server_of(&headers);
    Json(json!({
        "visitorid": id,
        "groupid": group,
        "visitorpresent": format!("{}.0", found.since),
        "timestamp": format!("{}.0", auth::unix_now()),
        "direct": direct,
        "directserver": server,
        "ds": format!("{server}/0"),
        "httpsport": port,
        "tlsport": port,
        "data": found.data,
    }))
    .into_response()
}

/// `GET /findvisitor?groupid=G&visitorid=ID`.
pub async fn find(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (group, id) = match check(&state, &headers, &q) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if state.presence.lookup(&group, &id).is_none() {
        return Json(json!({"visitorfound": false})).into_response();
    }
    let (direct, server, port) = server_of(&headers);
    Json(json!({
        "visitorfound": true,
        "ds": format!("{server}/0"),
        "direct": direct,
        "directserver": server,
        "tlsport": port,
        "httpsport": port,
    }))
    .into_response()
}

/// `POST /signalvisitor?groupid=G&visitorid=ID` with `{"mtype":"signal"|"invoke","data":..}`.
pub async fn signal(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    let (group, id) = match check(&state, &headers, &q) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let v: Value = match serde_json::from_str(&body) {
        Ok(v @ Value::Object(_)) if body.len() <= crate::presence_ws::MAX_AGENT_MESSAGE => v,
        _ => return error(StatusCode::BAD_REQUEST, PresenceError::Invalid.code()),
    };
    let res = crate::presence_ws::visitor_request(v["mtype"].as_str().unwrap_or(""), 0, &v["data"])
        .and_then(|f| state.presence.to_visitor(&group, &id, f));
    match res {
        Ok(()) => Json(json!({"ok": true})).into_response(),
        Err(e) => {
            let status = match e {
                PresenceError::VisitorNotFound => StatusCode::NOT_FOUND,
                PresenceError::Forbidden => StatusCode::FORBIDDEN,
                PresenceError::Invalid => StatusCode::BAD_REQUEST,
                PresenceError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            };
            error(status, e.code())
        }
    }
}
