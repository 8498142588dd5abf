//! The agent HTTP API: `POST /api/agent/auth` and `GET /api/agent/lookup` (see
//! `docs/PROTOCOL.md`, "Agents: authentication, lookup...").
//!
//! Every `/api/agent/*` answer carries CORS headers for any origin, never with credentials
//! (cross-origin callers use the bearer token), and `OPTIONS` preflights are answered. The
//! cookie `glance_agent` serves the viewer pages on this server's own origin; a WebSocket that
//! authenticates by cookie must come from this origin or an `agent_origins` console (no
//! cross-site socket hijacking).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::auth::{self, Agent, AuthError};
use crate::AppState;

/// Name of the token cookie.
pub const COOKIE: &str = "glance_agent";

fn tokens(state: &AppState) -> std::sync::MutexGuard<'_, auth::Tokens> {
    state.tokens.lock().unwrap_or_else(|p| p.into_inner())
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(|h| auth::cookie(h, COOKIE))
}

/// True when a request's `Origin` (if any) is this server's own (`Host`) or an `agent_origins`
/// entry.
pub(crate) fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok()) else {
        return true;
    };
    let Some(canon) = crate::handoff::canonical_origin(origin) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let own = ["http", "https"]
        .iter()
        .filter_map(|s| crate::handoff::canonical_origin(&format!("{s}://{host}")))
        .any(|o| o == canon);
    own || state
        .registry
        .config()
        .agent_origins
        .iter()
        .any(|o| crate::handoff::canonical_origin(o).as_deref() == Some(canon.as_str()))
}

/// The agent a request is authenticated as: by bearer header, `token` (query), a single-use
/// join `ticket` (used up here), or the cookie (for a WebSocket, `ws`, only from an allowed
/// origin).
pub fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    token: Option<&str>,
    ticket: Option<&str>,
    ws: bool,
) -> Option<Arc<Agent>> {
    let now = Instant::now();
    let mut t = tokens(state);
    if let Some(a) = bearer(headers).or(token).and_then(|k| t.agent(now, k)) {
        return Some(a);
    }
    if let Some(a) = ticket.and_then(|k| t.redeem(now, k)) {
        return Some(a);
    }
    if ws && !origin_allowed(state, headers) {
        return None;
    }
    cookie_token(headers).and_then(|k| t.agent(now, k))
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({ "error": code }))).into_response()
}

/// The CORS answer headers of the agent APIs for `origin` (`*` or one origin): `Authorization`
/// and `Content-Type` allowed, GET/POST/OPTIONS, preflights cached 10 minutes.
pub(crate) fn allow_cross_origin(h: &mut HeaderMap, origin: HeaderValue) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
}

/// CORS for `/api/agent/*`: any origin, `Authorization` and `Content-Type` allowed, preflights
/// answered with 204; never `no-store` caching of answers.
pub async fn cors(req: Request, next: Next) -> Response {
    let mut res = if req.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    allow_cross_origin(h, HeaderValue::from_static("*"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `POST /api/agent/auth`: `{"username","password"}`, `{"partnerid","partneruserid","loginkey"}`
/// or `{"ticket"}` (a join ticket, used up) -> `{"token","expires","agent"}` and the cookie.
pub async fn auth(State(state): State<AppState>, body: String) -> Response {
    let v: serde_json::Value = match serde_json::from_str(&body) {
        Ok(v @ serde_json::Value::Object(_)) if body.len() <= 8192 => v,
        _ => return error(StatusCode::BAD_REQUEST, AuthError::BadRequest.code()),
    };
    let now = Instant::now();
    let agent = match v.get("ticket").and_then(|t| t.as_str()) {
        Some(t) => tokens(&state)
            .redeem(now, t)
            .map(|a| (*a).clone())
            .ok_or(AuthError::BadCredentials),
        None => auth::check_request(state.registry.config(), &v, auth::unix_now()),
    };
    let agent = match agent {
        Ok(a) => a,
        Err(AuthError::BadRequest) => {
            return error(StatusCode::BAD_REQUEST, AuthError::BadRequest.code())
        }
        Err(e) => {
            eprintln!("agent auth refused: {e}");
            return error(StatusCode::UNAUTHORIZED, e.code());
        }
    };
    let info = agent.json();
    let token = tokens(&state).issue(now, agent);
    let expires = auth::unix_now() + auth::TOKEN_TTL.as_secs();
    let mut res = Json(json!({"token": token, "expires": expires, "agent": info})).into_response();
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}",
        auth::TOKEN_TTL.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// A public id for a session: agents never learn the visitor's resume secret (`sid`).
pub fn public_session_id(sid: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(format!("glance-ssnid:{sid}").as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `GET /api/agent/lookup?key=KEY[&group=G]` (authenticated): `{}` when no live session has
/// that key, otherwise the session's join data with a fresh single-use join ticket.
pub async fn lookup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(agent) = authenticate(&state, &headers, None, None, false) else {
        return error(StatusCode::UNAUTHORIZED, "unauthenticated");
    };
    let Some(key) = q
        .get("key")
        .filter(|k| glance_cobrowse::protocol::valid_session_key(k))
    else {
        return Json(json!({})).into_response();
    };
    let group = q.get("group").filter(|g| !g.is_empty()).map(String::as_str);
    let Some(session) = state.registry.find(group, key) else {
        return Json(json!({})).into_response();
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| crate::http::safe_host(h))
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    let ticket = tokens(&state).ticket(Instant::now(), agent.clone());
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let ssnid = public_session_id(&session.sid);
    let joinurl = format!(
        "{scheme}://{host}/agentjoin/AgentView.aspx?SessionKey={}&groupid={}&ticket={ticket}",
        enc(&session.key),
        enc(&session.group)
    );
    Json(json!({
        "id": ssnid,
        "ssnid": ssnid,
        "serverip": state.local_ip.map(|ip| ip.to_string()).unwrap_or_default(),
        "servername": host,
        "personid": agent.username,
        "groupid": session.group,
        "passcode": "",
        "agentjoinurl": joinurl,
        "clientjoinurl": "",
        "visitorversion": glance_cobrowse::protocol::ENGINE_VERSION,
    }))
    .into_response()
}
