//! HTTP routes: static files, the agent viewer, the session status API and the test hooks.
//!
//! Static trees (see `docs/LAYOUT.md`), all relative to `--root`:
//! `/cobrowse/skins/*` <- `skins/`, `/cobrowse/*` <- `dist/cobrowse/` (CORS `*`),
//! `/demo/*` <- `demo-site/`, `/test-pages/*` <- `tests/e2e/pages/`, `/agent/*` <- `server/viewer/`,
//! `/agentjoin/AgentView.aspx` <- `server/viewer/AgentView.html`.
//! Files are served by tower-http's `ServeDir`, which refuses `..` and absolute path segments.
//! Every static response gets `Cache-Control: no-cache` and explicit JavaScript / wasm types;
//! the viewer routes also get a strict Content-Security-Policy whose `frame-ancestors` lists
//! `'self'` and the configured `agent_origins` (the consoles allowed to embed the viewer).
//! The agent API (`/api/agent/auth`, `/api/agent/lookup`) lives in [`crate::agent_api`].

use std::path::Path;

use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, options, post};
use axum::{Json, Router};
use serde_json::json;
use std::collections::HashMap;
use tower_http::services::{ServeDir, ServeFile};

use std::time::Instant;

use crate::{agent_api, agent_ws, handoff, presence_api, presence_ws, visitor_ws, AppState};

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    let root = state.opts.root.clone();
    let dir = |sub: &str| ServeDir::new(root.join(sub)).append_index_html_on_directories(true);

    let cobrowse = Router::new()
        .nest_service("/cobrowse/skins", dir("skins"))
        .nest_service("/cobrowse", dir("dist/cobrowse"))
        .layer(middleware::from_fn(cors_any));

    let viewer = Router::new()
        .route_service(
            "/agentjoin/AgentView.aspx",
            ServeFile::new(root.join("server/viewer/AgentView.html")),
        )
        .nest_service("/agent/", dir("server/viewer"))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            viewer_headers,
        ));

    let statics = Router::new()
        .merge(cobrowse)
        .merge(viewer)
        .nest_service("/demo/", dir("demo-site"))
        .nest_service("/test-pages/", dir("tests/e2e/pages"))
        .layer(middleware::from_fn(static_headers));

    let mut app = Router::new()
        .route("/", get(|| async { Redirect::to("/demo/") }))
        .route("/demo", get(|| async { Redirect::to("/demo/") }))
        .route("/agent", get(|| async { Redirect::to("/agent/") }))
        .route(
            "/test-pages",
            get(|| async { Redirect::to("/test-pages/") }),
        )
        .route("/ws/visitor", get(visitor_ws::handler))
        .route("/ws/agent", get(agent_ws::handler))
        .route("/api/session/{key}", get(session_status))
        .route(
            "/api/group/{group}/trusted",
            get(group_trusted).layer(middleware::from_fn(cors_any)),
        )
        .route(
            "/api/handoff",
            post(handoff_issue).layer(middleware::from_fn(cors_any)),
        )
        .route(
            "/api/handoff/redeem",
            post(handoff_redeem).layer(middleware::from_fn(cors_any)),
        )
        .route(
            "/api/agent/auth",
            post(agent_api::auth)
                .merge(options(|| async {}))
                .layer(middleware::from_fn(agent_api::cors)),
        )
        .route(
            "/api/agent/lookup",
            get(agent_api::lookup)
                .merge(options(|| async {}))
                .layer(middleware::from_fn(agent_api::cors)),
        );
    let pcors = || middleware::from_fn_with_state(state.clone(), presence_api::cors);
    app = app
        .route("/ws/presence/visitor", get(presence_ws::visitor_handler))
        .route("/ws/presence/agent", get(presence_ws::agent_handler))
        .route(
            "/api/agent/authorize",
            post(presence_api::authorize)
                .merge(options(|| async {}))
                .layer(pcors()),
        )
        .route(
            "/lookupvisitor",
            get(presence_api::lookup)
                .merge(options(|| async {}))
                .layer(pcors()),
        )
        .route(
            "/findvisitor",
            get(presence_api::find)
                .merge(options(|| async {}))
                .layer(pcors()),
        )
        .route(
            "/signalvisitor",
            post(presence_api::signal)
                .merge(options(|| async {}))
                .layer(pcors()),
        );
    if state.opts.test_hooks {
        app = app.route("/__test/drop/{key}", post(drop_visitor));
    }
    app.merge(statics)
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(state)
}

/// `GET /api/session/KEY[?group=G]`.
async fn session_status(
    State(state): State<AppState>,
    UrlPath(key): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let found = state
        .registry
        .find(q.get("group").map(String::as_str), &key);
    match found {
        Some(s) => Json(s.status()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "session not found"})),
        )
            .into_response(),
    }
}

/// `GET /api/group/ID/trusted`: `{"trusted_domains":[...],"crossdomain_helpers":[...]}` of the group
/// (CORS `*`; public data the visitor loader needs to check the origin of `glance_invoke` messages,
/// to carry a session over links and to open the helper pages), or 404.
async fn group_trusted(State(state): State<AppState>, UrlPath(group): UrlPath<String>) -> Response {
    match state.registry.group_config(&group) {
        Some(g) => Json(json!({
            "trusted_domains": g.trusted_domains,
            "crossdomain_helpers": g.crossdomain_helpers,
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "unknown group"})),
        )
            .into_response(),
    }
}

fn api_error(status: StatusCode, code: &str) -> Response {
    let mut res = (status, Json(json!({ "error": code }))).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn body_str<'a>(v: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    v.get(name)
        .and_then(|x| x.as_str())
        .filter(|s| !s.is_empty() && s.len() <= 256)
}

/// `POST /api/handoff` with `{"group","key","sid","target"}` (any content type, so no CORS
/// preflight): a single-use token for carrying session `sid` over to origin `target`, which must be
/// trusted by the group. `{"token","ttl"}`; 403 `{"error":"UNTRUSTED_ORIGIN"}`; 404 when the
/// session is not live; 400 on a malformed body.
async fn handoff_issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let v: serde_json::Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(_) => return api_error(StatusCode::BAD_REQUEST, "BAD_REQUEST"),
    };
    let (Some(group), Some(key), Some(sid), Some(target)) = (
        body_str(&v, "group"),
        body_str(&v, "key"),
        body_str(&v, "sid"),
        body_str(&v, "target"),
    ) else {
        return api_error(StatusCode::BAD_REQUEST, "BAD_REQUEST");
    };
    let Some(cfg) = state.registry.group_config(group) else {
        return api_error(StatusCode::NOT_FOUND, "SESSION_NOT_FOUND");
    };
    let origin = match handoff::trusted_origin(target, &cfg.trusted_domains) {
        Ok(o) => o,
        Err(e) => return api_error(StatusCode::FORBIDDEN, e.code()),
    };
    let Some(session) = state.registry.by_sid(group, key, sid) else {
        return api_error(StatusCode::NOT_FOUND, "SESSION_NOT_FOUND");
    };
    let token = crate::sessions::random_hex128();
    let grant = handoff::Grant {
        group: session.group.clone(),
        key: session.key.clone(),
        sid: session.sid.clone(),
        from: headers
            .get(header::ORIGIN)
            .and_then(|h| h.to_str().ok())
            .and_then(handoff::canonical_origin),
    };
    let issued = state
        .handoffs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .issue(Instant::now(), token.clone(), origin, grant);
    if let Err(e) = issued {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, e.code());
    }
    let mut res =
        Json(json!({"token": token, "ttl": handoff::TOKEN_TTL.as_secs()})).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `POST /api/handoff/redeem` with `{"token"}` from a page whose `Origin` is the token's origin:
/// `{"session":"v1.KEY.SID.GROUP.P","opener":ORIGIN|null}` (the stored form of `src/session.rs`;
/// `opener`: the origin of the page that asked for the token, where a helper page reports), once. 403
/// `{"error":"BAD_TOKEN"|"WRONG_ORIGIN"}` otherwise (the token is burnt either way).
async fn handoff_redeem(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let Some(token) = body_str(&v, "token") else {
        return api_error(StatusCode::BAD_REQUEST, "BAD_REQUEST");
    };
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|h| h.to_str().ok())
        .and_then(handoff::canonical_origin);
    let grant = state
        .handoffs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .redeem(Instant::now(), token, origin.as_deref());
    let grant = match grant {
        Ok(g) => g,
        Err(e) => return api_error(StatusCode::FORBIDDEN, e.code()),
    };
    let Some(session) = state.registry.by_sid(&grant.group, &grant.key, &grant.sid) else {
        return api_error(StatusCode::NOT_FOUND, "SESSION_NOT_FOUND");
    };
    let info = glance_cobrowse::session::SessionInfo {
        key: grant.key,
        sid: grant.sid,
        group: grant.group,
        paused: session.is_paused(),
    };
    let mut res = Json(json!({"session": info.encode(), "opener": grant.from})).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `POST /__test/drop/KEY` (only with `--test-hooks`).
async fn drop_visitor(State(state): State<AppState>, UrlPath(key): UrlPath<String>) -> Response {
    if state.registry.drop_visitor(&key) {
        Json(json!({"dropped": true})).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no visitor socket for this session"})),
        )
            .into_response()
    }
}

fn content_type_for(path: &str) -> Option<&'static str> {
    let ext = Path::new(path).extension()?.to_str()?;
    Some(match ext {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "html" | "htm" | "aspx" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" | "map" => "application/json",
        _ => return None,
    })
}

async fn static_headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if res.status().is_success() {
        if let Some(ct) = content_type_for(&path) {
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
    }
    res
}

async fn cors_any(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}

/// True for a `Host` header value that is safe to repeat inside a CSP or a URL.
pub(crate) fn safe_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

/// The viewer's Content-Security-Policy. Scripts only from this origin; the mirror iframe is
/// sandboxed without `allow-scripts` and inherits this policy; styles, images and fonts of the
/// visitor's site may come from anywhere; only this origin and `agent_origins` (canonical
/// `http(s)` origins, checked when the config is loaded) may frame it.
pub fn viewer_csp(headers: &HeaderMap, agent_origins: &[String]) -> String {
    let mut ancestors = String::from("'self'");
    for o in agent_origins
        .iter()
        .filter_map(|o| handoff::canonical_origin(o))
    {
        ancestors.push(' ');
        ancestors.push_str(&o);
    }
    let mut connect = String::from("'self'");
    if let Some(host) = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| safe_host(h))
    {
        connect.push_str(&format!(" ws://{host} wss://{host}"));
    }
    format!(
        "default-src 'none'; script-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-src 'self' about:; child-src 'self' about:; form-action 'self'; \
         style-src * data: 'unsafe-inline'; img-src * data: blob:; font-src * data:; \
         media-src * data: blob:; connect-src {connect}; frame-ancestors {ancestors}"
    )
}

async fn viewer_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let csp = viewer_csp(req.headers(), &state.registry.config().agent_origins);
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp_is_strict_and_host_is_checked() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        let csp = viewer_csp(&h, &[]);
        assert!(csp.contains("script-src 'self';"));
        assert!(csp.ends_with("frame-ancestors 'self'"));
        assert!(csp.contains("object-src 'none'"));
        assert!(csp.contains("base-uri 'none'"));
        assert!(csp.contains("ws://127.0.0.1:8080"));
        assert!(!csp.contains("unsafe-eval"));
        h.insert(header::HOST, HeaderValue::from_static("x; script-src *"));
        assert!(!viewer_csp(&h, &[]).contains("script-src *"));
        let csp = viewer_csp(&h, &["https://Console.example:443".into(), "*".into()]);
        assert!(
            csp.ends_with("frame-ancestors 'self' https://console.example"),
            "{csp}"
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type_for("/cobrowse/a_bg.wasm"),
            Some("application/wasm")
        );
        assert_eq!(
            content_type_for("/cobrowse/GlanceCobrowseLoader.js"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(content_type_for("/x/y"), None);
    }
}
