//! Agent authentication, lookup, join tickets and remote control over the sockets, against an
//! in-process server (see `docs/PROTOCOL.md`, "Agents: ...").

mod common;

use std::time::Duration;

use cobrowse_server::auth::{login_key, unix_now};
use common::*;
use serde_json::{json, Value};

/// Receives frames until one has `"t": t`, skipping the others.
async fn next_of(ws: &mut Ws, t: &str) -> Value {
    recv_until(ws, t).await.0
}

/// Expects that no frame with `"t": t` arrives within `d` (other frames are ignored).
async fn none_of(ws: &mut Ws, t: &str, d: Duration) {
    let end = tokio::time::Instant::now() + d;
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return;
        }
        match tokio::time::timeout(left, futures_util::StreamExt::next(ws)).await {
            Err(_) => return,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(m)))) => {
                let v: Value = serde_json::from_str(&m).expect("json");
                assert_ne!(v["t"], t, "unexpected {v}");
            }
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("socket ended: {other:?}"),
        }
    }
}

#[tokio::test]
async fn password_login_gives_a_token_and_a_cookie() {
    let s = start().await;
    let (st, v, h) = auth(
        &s.addr,
        json!({"username": "agnes", "password": "agnes-pass"}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let token = v["token"].as_str().expect("token");
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let exp = v["expires"].as_u64().expect("expires");
    assert!(exp >= unix_now() + 12 * 3600 - 5 && exp <= unix_now() + 12 * 3600 + 5);
    assert_eq!(
        v["agent"],
        json!({"username": "agnes", "partnerid": 1234, "partneruserid": "agnes@example.com",
               "name": "Agnes Agent", "title": "Support"})
    );
    let cookie = header(&h, "set-cookie").expect("cookie");
    assert!(
        cookie.starts_with(&format!("glance_agent={token};")),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert_eq!(header(&h, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&h, "access-control-allow-credentials"), None);

    for (body, code, want) in [
        (
            json!({"username": "agnes", "password": "nope"}),
            401,
            "badcredentials",
        ),
        (
            json!({"username": "nobody", "password": "x"}),
            401,
            "badcredentials",
        ),
        (json!({"username": "agnes"}), 400, "badrequest"),
        (json!([1, 2]), 400, "badrequest"),
    ] {
        let (st, v, h) = auth(&s.addr, body.clone()).await;
        assert_eq!((st, v["error"].as_str()), (code, Some(want)), "{body}");
        assert_eq!(header(&h, "set-cookie"), None);
    }
    let (st, _, b) = http_req(&s.addr, "POST", "/api/agent/auth", &[], "{not json").await;
    assert_eq!((st, b.contains("badrequest")), (400, true));
}

#[tokio::test]
async fn login_keys_valid_expired_forged() {
    let s = start().await;
    let good = login_key(
        "e2e-partner-secret",
        1234,
        "agnes@example.com",
        unix_now() + 300,
    );
    let (st, v, _) = auth(
        &s.addr,
        json!({"partnerid": 1234, "partneruserid": "agnes@example.com", "loginkey": good}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["agent"]["username"], "agnes");
    // A partner user without an [agents.*] entry.
    let k = login_key(
        "e2e-partner-secret",
        1234,
        "zoe@example.com",
        unix_now() + 300,
    );
    let (st, v, _) = auth(
        &s.addr,
        json!({"partnerid": "1234", "partneruserid": "zoe@example.com", "loginkey": k}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["agent"]["username"], "zoe@example.com");
    assert_eq!(v["agent"]["name"], "zoe@example.com");

    let expired = login_key(
        "e2e-partner-secret",
        1234,
        "agnes@example.com",
        unix_now() - 10,
    );
    let forged = login_key(
        "not-the-secret",
        1234,
        "agnes@example.com",
        unix_now() + 300,
    );
    for (key, puid, want) in [
        (expired.as_str(), "agnes@example.com", "expired"),
        (forged.as_str(), "agnes@example.com", "badkey"),
        (good.as_str(), "bob@example.com", "badkey"),
        ("$1$99999999999$00", "agnes@example.com", "badkey"),
    ] {
        let (st, v, _) = auth(
            &s.addr,
            json!({"partnerid": 1234, "partneruserid": puid, "loginkey": key}),
        )
        .await;
        assert_eq!((st, v["error"].as_str()), (401, Some(want)), "{key}");
    }
}

#[tokio::test]
async fn cors_preflight_and_headers() {
    let s = start().await;
    for path in ["/api/agent/auth", "/api/agent/lookup"] {
        let (st, h, _) = http_req(
            &s.addr,
            "OPTIONS",
            path,
            &[
                ("Origin", "https://crm.example"),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
            ],
            "",
        )
        .await;
        assert_eq!(st, 204, "{path}");
        assert_eq!(header(&h, "access-control-allow-origin"), Some("*"));
        let allowed = header(&h, "access-control-allow-headers").unwrap_or("");
        assert!(allowed.contains("Authorization") && allowed.contains("Content-Type"));
        assert!(header(&h, "access-control-allow-methods")
            .unwrap_or("")
            .contains("POST"));
    }
}

#[tokio::test]
async fn lookup_found_not_found_unauthenticated_and_ticket_single_use() {
    let s = start().await;
    let (_v, w) = visitor(&s.addr, "1234", Some("LOOK1")).await;
    let sid = w["sid"].as_str().expect("sid").to_string();
    let (st, _, v) = http_req(&s.addr, "GET", "/api/agent/lookup?key=LOOK1", &[], "").await;
    assert_eq!((st, v.contains("unauthenticated")), (401, true));
    let (st, _, _) = http_req(
        &s.addr,
        "GET",
        "/api/agent/lookup?key=LOOK1",
        &[("Authorization", "Bearer 00000000000000000000000000000000")],
        "",
    )
    .await;
    assert_eq!(st, 401);

    let t = token(&s.addr, "agnes").await;
    let bearer = format!("Bearer {t}");
    let get = |path: String| {
        let addr = s.addr.clone();
        let bearer = bearer.clone();
        async move {
            let (st, h, b) = http_req(&addr, "GET", &path, &[("Authorization", &bearer)], "").await;
            (st, h, serde_json::from_str::<Value>(&b).expect("json"))
        }
    };
    let (st, h, v) = get("/api/agent/lookup?key=LOOK1".into()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(header(&h, "access-control-allow-origin"), Some("*"));
    assert_eq!(v["groupid"], "1234");
    assert_eq!(v["personid"], "agnes");
    assert_eq!(v["servername"], s.addr.as_str());
    assert_eq!(v["serverip"], "127.0.0.1");
    assert_eq!(v["passcode"], "");
    assert_eq!(v["clientjoinurl"], "");
    assert_eq!(
        v["visitorversion"],
        glance_cobrowse::protocol::ENGINE_VERSION
    );
    let id = v["ssnid"].as_str().expect("ssnid");
    assert_eq!(v["id"], id);
    assert_eq!(id.len(), 32);
    assert_ne!(id, sid, "the visitor's resume secret is never given out");
    let url = v["agentjoinurl"].as_str().expect("url");
    let prefix = format!(
        "http://{}/agentjoin/AgentView.aspx?SessionKey=LOOK1&groupid=1234&ticket=",
        s.addr
    );
    assert!(url.starts_with(&prefix), "{url}");
    let ticket = &url[prefix.len()..];
    assert_eq!(ticket.len(), 32);

    // Not found: `{}` (other key, other group, invalid key).
    for q in ["key=NOPE", "key=LOOK1&group=5678", "key=bad%20key", ""] {
        let (st, _, v) = get(format!("/api/agent/lookup?{q}")).await;
        assert_eq!((st, v), (200, json!({})), "{q}");
    }
    // The cookie authenticates too.
    let cookie = format!("glance_agent={t}");
    let (st, _, _) = http_req(
        &s.addr,
        "GET",
        "/api/agent/lookup?key=LOOK1",
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(st, 200);

    // The ticket opens the agent socket once, as agnes.
    let mut a = connect(&s.addr, &format!("/ws/agent?key=LOOK1&ticket={ticket}")).await;
    let sess = next_of(&mut a, "session").await;
    assert_eq!(sess["you"]["username"], "agnes");
    assert_eq!(sess["you"]["name"], "Agnes Agent");
    assert_eq!(sess["you"]["num"], 1);
    let mut again = connect(&s.addr, &format!("/ws/agent?key=LOOK1&ticket={ticket}")).await;
    let e = recv(&mut again).await;
    assert_eq!(
        (e["t"].as_str(), e["code"].as_str()),
        (Some("error"), Some("auth"))
    );
    assert_eq!(recv_close(&mut again).await.0, 1008);

    // A ticket may instead be exchanged for a token (once).
    let (_, _, v) = get("/api/agent/lookup?key=LOOK1".into()).await;
    let url = v["agentjoinurl"].as_str().expect("url");
    let ticket = url.rsplit_once("ticket=").expect("ticket").1.to_string();
    let (st, v, h) = auth(&s.addr, json!({ "ticket": ticket })).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["agent"]["username"], "agnes");
    assert!(header(&h, "set-cookie").is_some());
    let (st, v, _) = auth(&s.addr, json!({ "ticket": ticket })).await;
    assert_eq!((st, v["error"].as_str()), (401, Some("badcredentials")));
}

#[tokio::test]
async fn agent_socket_requires_authentication() {
    let s = start().await;
    let (_v, _) = visitor(&s.addr, "1234", Some("AUTHWS")).await;
    let t = token(&s.addr, "bob").await;
    for path in [
        "/ws/agent?key=AUTHWS&name=Mallory".to_string(),
        "/ws/agent?key=AUTHWS&token=ffffffffffffffffffffffffffffffff".to_string(),
        "/ws/agent?key=AUTHWS&ticket=nope".to_string(),
    ] {
        let mut a = connect(&s.addr, &path).await;
        let e = recv(&mut a).await;
        assert_eq!(
            (e["t"].as_str(), e["code"].as_str()),
            (Some("error"), Some("auth")),
            "{path}"
        );
        assert_eq!(recv_close(&mut a).await.0, 1008);
    }
    // `name` no longer sets the identity: the token does.
    let mut a = connect(
        &s.addr,
        &format!("/ws/agent?key=AUTHWS&name=Mallory&token={t}"),
    )
    .await;
    let sess = next_of(&mut a, "session").await;
    assert_eq!(sess["you"]["name"], "Bob Builder");
    // A cookie on a socket from a foreign page is refused; from an agent console it is fine.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    for (origin, ok) in [
        ("https://evil.example", false),
        ("https://console.example", true),
    ] {
        let mut req = format!("ws://{}/ws/agent?key=AUTHWS", s.addr)
            .into_client_request()
            .expect("req");
        req.headers_mut()
            .insert("Cookie", format!("glance_agent={t}").parse().expect("h"));
        req.headers_mut()
            .insert("Origin", origin.parse().expect("h"));
        let (mut ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("connect");
        let first = recv(&mut ws).await;
        assert_eq!(first["t"] == "session", ok, "{origin}: {first}");
    }
}

/// A visitor with a snapshot on session `key` and agents `users` joined (in order).
async fn scene(addr: &str, key: &str, users: &[&str]) -> (Ws, Vec<Ws>) {
    let (mut v, _) = visitor(addr, "1234", Some(key)).await;
    send_snap(&mut v).await;
    let mut agents = Vec::new();
    for u in users {
        let mut a = agent(addr, key, u).await;
        next_of(&mut a, "snap").await;
        agents.push(a);
    }
    for _ in users {
        next_of(&mut v, "agents").await;
    }
    (v, agents)
}

#[tokio::test]
async fn agent_lists_carry_identities_and_numbers() {
    let s = start().await;
    let (mut v, mut agents) = scene(&s.addr, "LIST", &["agnes"]).await;
    let mut b = agent(&s.addr, "LIST", "bob").await;
    let sess = next_of(&mut b, "session").await;
    assert_eq!(
        sess["you"],
        json!({"username": "bob", "name": "Bob Builder", "num": 2})
    );
    assert_eq!(sess["rc"], json!({"enabled": false, "state": "off"}));
    let list = next_of(&mut b, "agents").await;
    assert_eq!(list["count"], 2);
    assert_eq!(
        list["agentlist"][0],
        json!({"username": "agnes", "partnerid": 1234, "partneruserid": "agnes@example.com",
               "name": "Agnes Agent", "title": "Support", "role": "agent", "num": 1})
    );
    assert_eq!(list["agentlist"][1]["num"], 2);
    assert_eq!(list["agentlist"][1]["partnerid"], Value::Null);
    // The visitor and the first agent hear about it too.
    assert_eq!(next_of(&mut v, "agents").await["count"], 2);
    assert_eq!(next_of(&mut agents[0], "agents").await["count"], 2);
    // Numbers stay: agnes leaves, bob is still 2.
    drop(agents);
    let list = next_of(&mut v, "agents").await;
    assert_eq!(
        list["agentlist"],
        json!([{"username": "bob", "partnerid": null,
        "partneruserid": null, "name": "Bob Builder", "title": "", "role": "agent", "num": 2}])
    );
}

#[tokio::test]
async fn remote_control_is_relayed_and_refused_when_not_enabled() {
    let s = start().await;
    let (mut v, mut agents) = scene(&s.addr, "RC1", &["agnes", "bob"]).await;
    // An action before RC is enabled: refused by the server, to that agent only.
    send(
        &mut agents[0],
        r#"{"t":"act","id":1,"type":"click","gid":5}"#,
    )
    .await;
    let r = next_of(&mut agents[0], "actres").await;
    assert_eq!(
        r,
        json!({"t": "actres", "id": 1, "num": 1, "ok": false, "reason": "notenabled"})
    );
    none_of(&mut v, "act", Duration::from_millis(200)).await;
    // Request: the visitor gets it with the agent's identity.
    send(&mut agents[0], r#"{"t":"rc","on":true}"#).await;
    let rc = next_of(&mut v, "rc").await;
    assert_eq!(
        rc,
        json!({"t": "rc", "on": true, "agent": {"username": "agnes",
               "puid": "agnes@example.com", "num": 1, "name": "Agnes Agent"}})
    );
    send(&mut v, r#"{"t":"rc","state":"requested"}"#).await;
    send(&mut v, r#"{"t":"rc","state":"accepted"}"#).await;
    for a in agents.iter_mut() {
        let f = next_of(a, "rc").await;
        assert_eq!(f["state"], "requested");
        let f = next_of(a, "rc").await;
        assert_eq!(
            f,
            json!({"t": "rc", "enabled": true, "state": "accepted", "suspended": false})
        );
    }
    // Actions go through with every field and the agent's identity.
    send(
        &mut agents[1],
        r#"{"t":"act","id":7,"type":"type","gid":6,"value":"hello"}"#,
    )
    .await;
    let act = next_of(&mut v, "act").await;
    assert_eq!(
        act,
        json!({"t": "act", "id": 7, "type": "type", "gid": 6, "value": "hello",
               "agent": {"username": "bob", "puid": null, "num": 2, "name": "Bob Builder"}})
    );
    send(
        &mut agents[0],
        r#"{"t":"act","id":2,"type":"click","gid":5,"x":0.5,"y":0.25}"#,
    )
    .await;
    let act = next_of(&mut v, "act").await;
    assert_eq!(
        (act["x"].as_f64(), act["y"].as_f64()),
        (Some(0.5), Some(0.25))
    );
    // The visitor's answer reaches agent 2 only.
    send(
        &mut v,
        r#"{"t":"actres","id":7,"num":2,"ok":false,"reason":"masked"}"#,
    )
    .await;
    let r = next_of(&mut agents[1], "actres").await;
    assert_eq!(
        r,
        json!({"t": "actres", "id": 7, "num": 2, "ok": false, "reason": "masked"})
    );
    none_of(&mut agents[0], "actres", Duration::from_millis(200)).await;
    send(
        &mut v,
        r#"{"t":"navres","num":1,"ok":true,"url":"http://localhost/x"}"#,
    )
    .await;
    assert_eq!(next_of(&mut agents[0], "navres").await["ok"], true);
    none_of(&mut agents[1], "navres", Duration::from_millis(200)).await;

    // Gestures go to the visitor.
    send(
        &mut agents[0],
        r#"{"t":"gesture","kind":"outline","gid":5}"#,
    )
    .await;
    let g = next_of(&mut v, "gesture").await;
    assert_eq!(
        (g["kind"].as_str(), g["gid"].as_u64()),
        (Some("outline"), Some(5))
    );
    assert_eq!(g["agent"]["num"], 1);

    // The agent stops RC: every agent is told it is off, and the visitor too.
    send(&mut agents[1], r#"{"t":"rc","on":false}"#).await;
    let off = next_of(&mut v, "rc").await;
    assert_eq!(
        (off["on"].as_bool(), off["agent"]["num"].as_u64()),
        (Some(false), Some(2))
    );
    for a in agents.iter_mut() {
        let f = next_of(a, "rc").await;
        assert_eq!(
            (f["enabled"].as_bool(), f["state"].as_str()),
            (Some(false), Some("off"))
        );
    }
    send(
        &mut agents[0],
        r#"{"t":"act","id":3,"type":"click","gid":5}"#,
    )
    .await;
    assert_eq!(
        next_of(&mut agents[0], "actres").await["reason"],
        "notenabled"
    );
}

#[tokio::test]
async fn rc_state_survives_pages_and_ends_with_the_last_agent() {
    let s = start().await;
    let (mut v, w) = visitor(&s.addr, "1234", Some("RC2")).await;
    assert_eq!(w["rc"], false);
    let sid = w["sid"].as_str().expect("sid").to_string();
    send_snap(&mut v).await;
    let mut a = agent(&s.addr, "RC2", "agnes").await;
    next_of(&mut a, "snap").await;
    send(&mut v, r#"{"t":"rc","state":"accepted"}"#).await;
    assert_eq!(next_of(&mut a, "rc").await["enabled"], true);
    // The visitor navigates: its next page is told RC is on.
    send(&mut v, r#"{"t":"bye"}"#).await;
    // While it is between pages, an act is answered `missing`; a nav waits for the next page.
    send(&mut a, r#"{"t":"act","id":9,"type":"click","gid":5}"#).await;
    assert_eq!(next_of(&mut a, "actres").await["reason"], "missing");
    send(&mut a, r#"{"t":"nav","url":"/demo/cart.html"}"#).await;
    send(&mut a, r#"{"t":"ptr","x":1,"y":2}"#).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut v2 = connect(&s.addr, "/ws/visitor").await;
    send(&mut v2, &hello("1234", None, Some(&sid), "p-2")).await;
    let w2 = recv(&mut v2).await;
    assert_eq!(w2["rc"], true, "{w2}");
    let nav = next_of(&mut v2, "nav").await;
    assert_eq!(nav["url"], "/demo/cart.html");
    assert_eq!(
        (
            nav["confirm"].as_bool(),
            nav["open"].as_bool(),
            nav["link"].as_bool()
        ),
        (Some(false), Some(false), Some(false))
    );
    none_of(&mut v2, "ptr", Duration::from_millis(200)).await;
    // The last agent leaves: RC goes off and the visitor is told.
    drop(a);
    let off = next_of(&mut v2, "rc").await;
    assert_eq!(
        (off["on"].as_bool(), off["agent"]["username"].as_str()),
        (Some(false), Some("agnes"))
    );
    let mut b = agent(&s.addr, "RC2", "bob").await;
    assert_eq!(next_of(&mut b, "session").await["rc"]["state"], "off");
}

#[tokio::test]
async fn nav_to_untrusted_or_invalid_urls_is_refused_by_the_server() {
    let s = start().await;
    let (mut v, mut agents) = scene(&s.addr, "NAV1", &["agnes"]).await;
    let a = &mut agents[0];
    for (url, reason) in [
        ("https://evil.example/", "untrusted"),
        ("//evil.example/x", "untrusted"),
        ("https://localhost@evil.example/", "untrusted"),
        ("javascript:alert(1)", "invalid"),
    ] {
        send(a, &json!({"t": "nav", "url": url}).to_string()).await;
        let r = next_of(a, "navres").await;
        assert_eq!(
            r,
            json!({"t": "navres", "num": 1, "ok": false, "url": url, "reason": reason}),
            "{url}"
        );
    }
    none_of(&mut v, "nav", Duration::from_millis(200)).await;
    // Trusted hosts (group 1234 trusts localhost and https://chat.example), the page's own
    // origin, relative URLs and history moves are relayed.
    for url in [
        "http://localhost:9000/x",
        "https://chat.example/",
        "http://127.0.0.1/demo/cart.html",
        "cart.html",
        "back",
        "refresh",
    ] {
        send(
            a,
            &json!({"t": "nav", "url": url, "confirm": true}).to_string(),
        )
        .await;
        let n = next_of(&mut v, "nav").await;
        assert_eq!(
            (n["url"].as_str(), n["confirm"].as_bool()),
            (Some(url), Some(true))
        );
        assert_eq!(n["agent"]["num"], 1);
    }
}

#[tokio::test]
async fn pointers_are_rate_limited_and_the_visitor_pointer_is_kept() {
    let s = start().await;
    let (mut v, mut agents) = scene(&s.addr, "PTR1", &["agnes"]).await;
    for i in 0..100 {
        send(&mut agents[0], &format!(r#"{{"t":"ptr","x":{i},"y":5}}"#)).await;
    }
    let mut got = 0;
    loop {
        match tokio::time::timeout(Duration::from_millis(300), recv(&mut v)).await {
            Ok(f) if f["t"] == "ptr" => {
                assert_eq!(f["agent"], json!({"num": 1}));
                got += 1;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!((1..=31).contains(&got), "relayed {got} of 100");
    // The visitor's pointer goes to agents and is kept for late joiners.
    send(&mut v, r#"{"t":"vptr","x":10.5,"y":20}"#).await;
    assert_eq!(
        next_of(&mut agents[0], "vptr").await,
        json!({"t": "vptr", "x": 10.5, "y": 20.0})
    );
    let mut b = agent(&s.addr, "PTR1", "bob").await;
    let (vp, before) = recv_until(&mut b, "vptr").await;
    assert_eq!(vp["x"], 10.5);
    assert!(before.iter().any(|f| f["t"] == "snap"));
}

#[tokio::test]
async fn accessibility_is_relayed_kept_for_pages_and_reset() {
    let s = start().await;
    let (mut v, w) = visitor(&s.addr, "1234", Some("A11Y")).await;
    assert_eq!(w["a11y"], false, "{w}");
    let sid = w["sid"].as_str().expect("sid").to_string();
    send_snap(&mut v).await;
    let mut a = agent(&s.addr, "A11Y", "agnes").await;
    assert_eq!(next_of(&mut a, "session").await["a11y"], false);
    next_of(&mut a, "snap").await;
    let mut b = agent(&s.addr, "A11Y", "bob").await;
    next_of(&mut b, "snap").await;
    // Agnes turns it on: the visitor is told who did, every agent gets the new session state.
    send(&mut a, r#"{"t":"a11y","on":true}"#).await;
    let f = next_of(&mut v, "a11y").await;
    assert_eq!(
        f,
        json!({"t": "a11y", "on": true, "agent": {"username": "agnes",
               "puid": "agnes@example.com", "num": 1, "name": "Agnes Agent"}})
    );
    for ag in [&mut a, &mut b] {
        let sess = next_of(ag, "session").await;
        assert_eq!(sess["a11y"], true, "{sess}");
        assert_eq!(sess["state"], "active");
    }
    // Saying it again changes nothing for the agents.
    send(&mut a, r#"{"t":"a11y","on":true}"#).await;
    none_of(&mut b, "session", Duration::from_millis(200)).await;
    // Between pages: the frames wait (only the latest one), and the next welcome says it.
    send(&mut v, r#"{"t":"bye"}"#).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    send(&mut b, r#"{"t":"a11y","on":false}"#).await;
    send(&mut a, r#"{"t":"a11y","on":true}"#).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut v2 = connect(&s.addr, "/ws/visitor").await;
    send(&mut v2, &hello("1234", None, Some(&sid), "p-2")).await;
    let w2 = recv(&mut v2).await;
    assert_eq!(w2["a11y"], true, "{w2}");
    let f = next_of(&mut v2, "a11y").await;
    assert_eq!(
        (f["on"].as_bool(), f["agent"]["num"].as_u64()),
        (Some(true), Some(1))
    );
    none_of(&mut v2, "a11y", Duration::from_millis(200)).await;
    // A late agent sees it in its first session frame.
    let mut c = agent(&s.addr, "A11Y", "bob").await;
    assert_eq!(next_of(&mut c, "session").await["a11y"], true);
    // The last agent leaves: off, and the visitor is told.
    drop((a, b, c));
    let off = next_of(&mut v2, "a11y").await;
    assert_eq!(off["on"], false, "{off}");
    let mut d = agent(&s.addr, "A11Y", "agnes").await;
    assert_eq!(next_of(&mut d, "session").await["a11y"], false);
    // The session ends with it on: the agent is told the session ended.
    send(&mut d, r#"{"t":"a11y","on":true}"#).await;
    assert_eq!(next_of(&mut v2, "a11y").await["on"], true);
    send(&mut d, r#"{"t":"end"}"#).await;
    assert_eq!(next_of(&mut d, "ended").await["reason"], "agent");
}

#[tokio::test]
async fn invalid_remote_control_input_closes_the_agent_socket() {
    let s = start().await;
    let (mut v, _) = visitor(&s.addr, "1234", Some("BADRC")).await;
    send_snap(&mut v).await;
    for bad in [
        r#"{"t":"act","id":1,"type":"hover","gid":5}"#,
        r#"{"t":"act","id":1,"type":"click","gid":-5}"#,
        r#"{"t":"act","id":"1","type":"click","gid":5}"#,
        r#"{"t":"act","id":1,"type":"type","gid":5}"#,
        r#"{"t":"act","id":1,"type":"key","gid":5,"key":"F12"}"#,
        r#"{"t":"act","id":1,"type":"click","gid":5,"x":7}"#,
        r#"{"t":"rc","on":"yes"}"#,
        r#"{"t":"a11y"}"#,
        r#"{"t":"a11y","on":1}"#,
        r#"{"t":"nav","url":5}"#,
        r#"{"t":"gesture","kind":"outline"}"#,
        r#"{"t":"gesture","kind":"draw","gid":1}"#,
        r#"{"t":"ptr","x":1}"#,
        r#"{"t":"ptr","x":1e12,"y":1}"#,
    ] {
        let mut a = agent(&s.addr, "BADRC", "bob").await;
        next_of(&mut a, "snap").await;
        send(&mut a, bad).await;
        assert_eq!(recv_close(&mut a).await.0, 1008, "{bad}");
    }
    // Invalid visitor input closes the visitor socket.
    send(&mut v, r#"{"t":"rc","state":"maybe"}"#).await;
    assert_eq!(recv_close(&mut v).await.0, 1008);
}
