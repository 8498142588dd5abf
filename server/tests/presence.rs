//! Presence: authorization tokens, the origin allow-list, REST lookup/find/signal and the visitor
//! and agent presence sockets, against an in-process server (see `docs/PROTOCOL.md`, "Presence").

mod common;

use std::time::Duration;

use cobrowse_server::auth::{unix_now, Agent};
use cobrowse_server::jwt;
use common::*;
use serde_json::{json, Value};

const SECRET: &[u8] = b"test-presence-secret";

async fn authorize(addr: &str, body: Value) -> (u16, Value) {
    let (st, _, b) = http_req(
        addr,
        "POST",
        "/api/agent/authorize",
        &[("Content-Type", "application/json")],
        &body.to_string(),
    )
    .await;
    (st, serde_json::from_str(&b).unwrap_or(Value::Null))
}

async fn jwt_for(addr: &str, group: &str) -> String {
    let (st, v) = authorize(
        addr,
        json!({"username": "agnes", "password": "agnes-pass", "groupid": group}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v["token"].as_str().expect("token").to_string()
}

async fn rest(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    origin: Option<&str>,
    body: &str,
) -> (u16, Vec<(String, String)>, Value) {
    let bearer = format!("Bearer {token}");
    let mut h = vec![("Authorization", bearer.as_str())];
    if let Some(o) = origin {
        h.push(("Origin", o));
    }
    let (st, hd, b) = http_req(addr, method, path, &h, body).await;
    (st, hd, serde_json::from_str(&b).unwrap_or(Value::Null))
}

async fn pvisitor(addr: &str, id: &str) -> Ws {
    let mut ws = connect(addr, "/ws/presence/visitor?groupid=1234").await;
    send(&mut ws, &json!({"t": "hello", "visitorid": id}).to_string()).await;
    let w = recv(&mut ws).await;
    assert_eq!(w, json!({"t": "welcome", "visitorid": id}));
    ws
}

async fn pagent(addr: &str, query: &str, token: &str) -> Ws {
    let mut ws = connect(addr, &format!("/ws/presence/agent?groupid=1234&{query}")).await;
    send(&mut ws, &json!({"t": "auth", "token": token}).to_string()).await;
    ws
}

#[tokio::test]
async fn authorize_issues_group_bound_tokens() {
    let s = start().await;
    let (st, v) = authorize(
        &s.addr,
        json!({"username": "agnes", "password": "agnes-pass", "groupid": 1234, "duration": 120}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let exp = v["expires"].as_u64().expect("expires");
    assert!(exp.abs_diff(unix_now() + 7200) <= 5);
    let claims = jwt::verify(SECRET, v["token"].as_str().unwrap(), "1234", unix_now()).unwrap();
    assert_eq!(claims["sub"], "agnes");
    assert_eq!(claims["partnerid"], 1234);
    assert_eq!(claims["puid"], "agnes@example.com");
    assert_eq!(claims["name"], "Agnes Agent");

    // Default one hour; login keys work too.
    let key = cobrowse_server::auth::login_key(
        "e2e-partner-secret",
        1234,
        "agnes@example.com",
        unix_now() + 60,
    );
    let (st, v) = authorize(
        &s.addr,
        json!({"partnerid": 1234, "partneruserid": "agnes@example.com", "loginkey": key, "groupid": "1234"}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["expires"].as_u64().unwrap().abs_diff(unix_now() + 3600) <= 5);

    for (body, code, err) in [
        (
            json!({"username": "agnes", "password": "x", "groupid": "1234"}),
            401,
            "badcredentials",
        ),
        (
            json!({"username": "agnes", "password": "agnes-pass", "groupid": "1234", "duration": 121}),
            400,
            "badrequest",
        ),
        (
            json!({"username": "agnes", "password": "agnes-pass", "groupid": "1234", "duration": 0}),
            400,
            "badrequest",
        ),
        (
            json!({"username": "agnes", "password": "agnes-pass", "groupid": "999"}),
            400,
            "badrequest",
        ),
        (
            json!({"username": "agnes", "password": "agnes-pass"}),
            400,
            "badrequest",
        ),
    ] {
        let (st, v) = authorize(&s.addr, body.clone()).await;
        assert_eq!((st, v["error"].as_str()), (code, Some(err)), "{body}");
    }
}

#[tokio::test]
async fn rest_refuses_bad_tokens_and_foreign_origins() {
    let s = start().await;
    let good = jwt_for(&s.addr, "1234").await;
    let other_group = jwt_for(&s.addr, "5678").await;
    let a = Agent::named("agnes");
    let forged = jwt::issue(b"not-the-secret", &a, "1234", unix_now(), unix_now() + 600);
    let expired = jwt::issue(SECRET, &a, "1234", unix_now() - 600, unix_now() - 1);
    let path = "/lookupvisitor?groupid=1234&visitorid=nobody";
    for bad in ["", "garbage", &forged, &expired, &other_group] {
        let (st, _, v) = rest(&s.addr, "GET", path, bad, None, "").await;
        assert_eq!((st, &v["error"]), (401, &json!("authorization")), "{bad}");
    }
    let (st, _, v) = rest(&s.addr, "GET", path, &good, None, "").await;
    assert_eq!((st, &v["error"]), (404, &json!("visitornotfound")));

    // Origin allow-list: agent_origins and the server's own origin; ACAO names it.
    let (st, h, _) = rest(
        &s.addr,
        "GET",
        path,
        &good,
        Some("https://console.example"),
        "",
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://console.example")
    );
    let own = format!("http://{}", s.addr);
    let (st, h, _) = rest(&s.addr, "GET", path, &good, Some(&own), "").await;
    assert_eq!(st, 404);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some(own.as_str())
    );
    let (st, h, v) = rest(
        &s.addr,
        "GET",
        path,
        &good,
        Some("https://evil.example"),
        "",
    )
    .await;
    assert_eq!((st, &v["error"]), (403, &json!("origin")));
    assert_eq!(header(&h, "access-control-allow-origin"), None);
    let (st, _, v) = authorize_from(&s.addr, "https://evil.example").await;
    assert_eq!((st, &v["error"]), (403, &json!("origin")));

    // Preflight.
    let (st, h, _) = http_req(
        &s.addr,
        "OPTIONS",
        "/signalvisitor?groupid=1234&visitorid=x",
        &[
            ("Origin", "https://console.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        "",
    )
    .await;
    assert_eq!(st, 204);
    assert_eq!(
        header(&h, "access-control-allow-origin"),
        Some("https://console.example")
    );
    assert!(header(&h, "access-control-allow-headers")
        .unwrap()
        .contains("Authorization"));
}

async fn authorize_from(addr: &str, origin: &str) -> (u16, Vec<(String, String)>, Value) {
    let body = json!({"username": "agnes", "password": "agnes-pass", "groupid": "1234"});
    let (st, h, b) = http_req(
        addr,
        "POST",
        "/api/agent/authorize",
        &[("Origin", origin), ("Content-Type", "application/json")],
        &body.to_string(),
    )
    .await;
    (st, h, serde_json::from_str(&b).unwrap_or(Value::Null))
}

#[tokio::test]
async fn rest_lookup_find_and_signal() {
    let s = start().await;
    let t = jwt_for(&s.addr, "1234").await;
    let mut v = pvisitor(&s.addr, "visitor-42").await;
    send(
        &mut v,
        r#"{"t":"presence","data":{"url":"http://shop/x","title":"X","browser":"Chrome"}}"#,
    )
    .await;
    send(&mut v, r#"{"t":"presence","data":{"title":"Y"}}"#).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (st, _, l) = rest(
        &s.addr,
        "GET",
        "/lookupvisitor?groupid=1234&visitorid=visitor-42",
        &t,
        None,
        "",
    )
    .await;
    assert_eq!(st, 200, "{l}");
    assert_eq!(l["visitorid"], "visitor-42");
    assert_eq!(l["groupid"], "1234");
    assert_eq!(
        l["data"],
        json!({"url": "http://shop/x", "title": "Y", "browser": "Chrome"})
    );
    assert!(l["visitorpresent"].as_str().unwrap().ends_with(".0"));
    assert_eq!(l["direct"], s.addr.as_str());
    assert_eq!(l["directserver"], "127.0.0.1");

    let (st, _, f) = rest(
        &s.addr,
        "GET",
        "/findvisitor?groupid=1234&visitorid=visitor-42",
        &t,
        None,
        "",
    )
    .await;
    assert_eq!((st, &f["visitorfound"]), (200, &json!(true)));
    let (_, _, f) = rest(
        &s.addr,
        "GET",
        "/findvisitor?groupid=1234&visitorid=other",
        &t,
        None,
        "",
    )
    .await;
    assert_eq!(f, json!({"visitorfound": false}));

    let sig = "/signalvisitor?groupid=1234&visitorid=visitor-42";
    let (st, _, r) = rest(
        &s.addr,
        "POST",
        sig,
        &t,
        None,
        r#"{"mtype":"signal","data":{"hi":1}}"#,
    )
    .await;
    assert_eq!((st, r), (200, json!({"ok": true})));
    assert_eq!(
        recv(&mut v).await,
        json!({"t": "signal", "data": {"hi": 1}})
    );
    let body = r#"{"mtype":"invoke","data":{"func":"GLANCE.Cobrowse.VisitorUI.showTerms","args":{"sessionKey":"visitor-42"}}}"#;
    let (st, _, _) = rest(&s.addr, "POST", sig, &t, None, body).await;
    assert_eq!(st, 200);
    let inv = recv(&mut v).await;
    assert_eq!(inv["t"], "invoke");
    assert_eq!(inv["func"], "GLANCE.Cobrowse.VisitorUI.showTerms");
    assert_eq!(inv["args"], json!({"sessionKey": "visitor-42"}));
    let body = r#"{"mtype":"invoke","data":{"func":"alert","args":{}}}"#;
    let (st, _, r) = rest(&s.addr, "POST", sig, &t, None, body).await;
    assert_eq!((st, &r["error"]), (403, &json!("forbidden")));
    let (st, _, r) = rest(&s.addr, "POST", sig, &t, None, r#"{"mtype":"x"}"#).await;
    assert_eq!((st, &r["error"]), (400, &json!("invalid")));
    let (st, _, r) = rest(
        &s.addr,
        "POST",
        "/signalvisitor?groupid=1234&visitorid=absent",
        &t,
        None,
        r#"{"mtype":"signal","data":1}"#,
    )
    .await;
    assert_eq!((st, &r["error"]), (404, &json!("visitornotfound")));
    expect_quiet(&mut v, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn invalid_visitor_input_closes_with_1008() {
    let s = start().await;
    for first in [
        json!({"t": "hello", "visitorid": "a b"}).to_string(),
        json!({"t": "hello", "visitorid": "a*"}).to_string(),
        json!({"t": "hello", "visitorid": "x".repeat(129)}).to_string(),
        json!({"t": "hello"}).to_string(),
        "not json".to_string(),
    ] {
        let mut ws = connect(&s.addr, "/ws/presence/visitor?groupid=1234").await;
        send(&mut ws, &first).await;
        let e = recv(&mut ws).await;
        assert_eq!(e["code"], "invalidprotocol", "{first}: {e}");
        assert_eq!(recv_close(&mut ws).await.0, 1008);
    }
    let mut ws = connect(&s.addr, "/ws/presence/visitor?groupid=nope").await;
    assert_eq!(recv(&mut ws).await["t"], "error");
    assert_eq!(recv_close(&mut ws).await.0, 1008);
    let mut v = pvisitor(&s.addr, "v1").await;
    send(&mut v, r#"{"t":"visibility","visibility":"maybe"}"#).await;
    assert_eq!(recv(&mut v).await["t"], "error");
    let (code, reason) = recv_close(&mut v).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("visibility"), "{reason}");
    let mut v = pvisitor(&s.addr, "v2").await;
    let big = json!({"t": "presence", "data": {"x": "y".repeat(17 * 1024)}}).to_string();
    send(&mut v, &big).await;
    assert_eq!(recv(&mut v).await["t"], "error");
    assert_eq!(recv_close(&mut v).await.0, 1008);
}

#[tokio::test]
async fn agent_socket_auth_events_and_acks() {
    let s = start().await;
    let t = jwt_for(&s.addr, "1234").await;
    let forged = jwt::issue(
        b"nope",
        &Agent::named("x"),
        "1234",
        unix_now(),
        unix_now() + 60,
    );
    let wrong_group = jwt_for(&s.addr, "5678").await;
    for bad in [forged.as_str(), wrong_group.as_str(), ""] {
        let mut a = pagent(&s.addr, "visitorid=v9", bad).await;
        assert_eq!(
            recv(&mut a).await,
            json!({"t": "error", "error": "connfail", "detail": "authorization"})
        );
        assert_eq!(recv_close(&mut a).await.0, 1008);
    }

    let mut a = pagent(&s.addr, "visitorid=v9", &t).await;
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "visitorconn", "connected": false})
    );
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "visitorsock", "connected": false})
    );
    assert_eq!(recv(&mut a).await, json!({"t": "presence", "data": {}}));
    send(&mut a, r#"{"t":"signal","id":1,"data":"x"}"#).await;
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "ack", "id": 1, "ok": false, "reason": "visitornotfound"})
    );

    let mut v = pvisitor(&s.addr, "v9").await;
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "visitorconn", "connected": true})
    );
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "visitorsock", "connected": true})
    );
    send(&mut v, r#"{"t":"presence","data":{"url":"u"}}"#).await;
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "presence", "data": {"url": "u"}})
    );
    send(&mut v, r#"{"t":"visibility","visibility":"hidden"}"#).await;
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "visibility", "visibility": "hidden"})
    );
    send(
        &mut v,
        r#"{"t":"event","name":"terms","data":{"status":"displayed"}}"#,
    )
    .await;
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "terms", "status": "displayed"})
    );
    send(
        &mut v,
        r#"{"t":"event","name":"sessionstart","data":{"key":"v9"}}"#,
    )
    .await;
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "visitorsessionstart", "data": {"key": "v9"}})
    );
    send(&mut v, r#"{"t":"event","name":"sessionend","data":{}}"#).await;
    assert_eq!(recv(&mut a).await["t"], "visitorsessionend");
    send(
        &mut v,
        r#"{"t":"event","name":"error","data":{"code":"x"}}"#,
    )
    .await;
    assert_eq!(recv(&mut a).await["t"], "visitorerror");

    send(&mut a, r#"{"t":"signal","id":2,"data":{"a":1}}"#).await;
    assert_eq!(recv(&mut a).await, json!({"t": "ack", "id": 2, "ok": true}));
    assert_eq!(recv(&mut v).await, json!({"t": "signal", "data": {"a": 1}}));
    send(&mut a, r#"{"t":"invoke","id":3,"func":"eval","args":{}}"#).await;
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "ack", "id": 3, "ok": false, "reason": "forbidden"})
    );
    send(
        &mut a,
        r#"{"t":"invoke","id":4,"func":"GLANCE.Cobrowse.Visitor.startSession","args":{"sessionKey":"v9"}}"#,
    )
    .await;
    assert_eq!(recv(&mut a).await, json!({"t": "ack", "id": 4, "ok": true}));
    let inv = recv(&mut v).await;
    assert_eq!(
        inv,
        json!({"t": "invoke", "id": 4, "func": "GLANCE.Cobrowse.Visitor.startSession", "args": {"sessionKey": "v9"}})
    );
    send(
        &mut v,
        r#"{"t":"invokeres","id":4,"ok":true,"func":"GLANCE.Cobrowse.Visitor.startSession"}"#,
    )
    .await;
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "invokeres", "id": 4, "ok": true, "func": "GLANCE.Cobrowse.Visitor.startSession"})
    );

    // A late agent gets the current state.
    let mut b = pagent(&s.addr, "visitorid=v9", &t).await;
    assert_eq!(
        recv(&mut b).await,
        json!({"t": "visitorconn", "connected": true})
    );
    assert_eq!(
        recv(&mut b).await,
        json!({"t": "visitorsock", "connected": true})
    );
    assert_eq!(
        recv(&mut b).await,
        json!({"t": "presence", "data": {"url": "u"}})
    );
    assert_eq!(
        recv(&mut b).await,
        json!({"t": "terms", "status": "displayed"})
    );
    assert_eq!(
        recv(&mut b).await,
        json!({"t": "visibility", "visibility": "hidden"})
    );

    // Malformed agent frames close with 1008.
    send(&mut b, r#"{"t":"signal","id":-1}"#).await;
    assert_eq!(recv(&mut b).await["t"], "error");
    assert_eq!(recv_close(&mut b).await.0, 1008);
}

#[tokio::test]
async fn pending_signals_wait_for_the_next_socket_within_five_seconds() {
    let s = start().await;
    let t = jwt_for(&s.addr, "1234").await;
    let mut a = pagent(&s.addr, "visitorid=nav", &t).await;
    for _ in 0..3 {
        recv(&mut a).await;
    }
    let v = pvisitor(&s.addr, "nav").await;
    recv_until(&mut a, "visitorsock").await;
    drop(v);
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "visitorsock", "connected": false})
    );
    // Still present: the signal waits.
    send(&mut a, r#"{"t":"signal","id":1,"data":"later"}"#).await;
    assert_eq!(recv(&mut a).await, json!({"t": "ack", "id": 1, "ok": true}));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut v = pvisitor(&s.addr, "nav").await;
    assert_eq!(recv(&mut v).await, json!({"t": "signal", "data": "later"}));
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "visitorsock", "connected": true})
    );

    // Gone for more than 5 s: absent, signals fail.
    drop(v);
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "visitorsock", "connected": false})
    );
    let t0 = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "visitorconn", "connected": false})
    );
    assert!(t0.elapsed() >= Duration::from_millis(4500));
    send(&mut a, r#"{"t":"signal","id":2,"data":"x"}"#).await;
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "ack", "id": 2, "ok": false, "reason": "visitornotfound"})
    );
}

#[tokio::test]
async fn unique_ids_are_six_digits_and_extend() {
    let s = start().await;
    let t = jwt_for(&s.addr, "1234").await;
    let mut v = connect(&s.addr, "/ws/presence/visitor?groupid=1234").await;
    send(&mut v, r#"{"t":"unique"}"#).await;
    let u = recv(&mut v).await;
    assert_eq!(u["t"], "unique");
    let id = u["uniqueid"].as_str().unwrap().to_string();
    assert!(
        id.len() == 6 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    assert!(u["expires"].as_u64().unwrap().abs_diff(unix_now() + 300) <= 5);
    assert_eq!(recv(&mut v).await, json!({"t": "welcome", "visitorid": id}));
    send(&mut v, r#"{"t":"extend"}"#).await;
    let e = recv(&mut v).await;
    assert_eq!(
        (e["t"].as_str(), e["uniqueid"].as_str()),
        (Some("unique"), Some(id.as_str()))
    );

    let mut a = pagent(&s.addr, &format!("uniqueid={id}"), &t).await;
    assert_eq!(
        recv(&mut a).await,
        json!({"t": "visitorconn", "connected": true})
    );
    let mut b = pagent(&s.addr, "uniqueid=000001", &t).await;
    assert_eq!(recv(&mut b).await["error"], "connfail");
    assert_eq!(recv_close(&mut b).await.0, 1008);

    // `extend` is only for unique ids.
    let mut w = pvisitor(&s.addr, "named").await;
    send(&mut w, r#"{"t":"extend"}"#).await;
    assert_eq!(recv(&mut w).await["t"], "error");
    assert_eq!(recv_close(&mut w).await.0, 1008);
}
