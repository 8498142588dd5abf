//! End-to-end tests of the visitor and agent WebSockets against an in-process server.

mod common;

use std::time::Duration;

use common::*;
use glance_cobrowse::mirror::Mirror;
use glance_cobrowse::protocol::{parse_visitor, VisitorMsg};
use serde_json::Value;

fn mirror_of(snapshot_json: &str) -> Mirror {
    let mut m = Mirror::new();
    match parse_visitor(snapshot_json).expect("snapshot parses") {
        VisitorMsg::Snap(s) => m.apply_snapshot(&s).expect("snapshot applies"),
        other => panic!("not a snapshot: {other:?}"),
    }
    m
}

fn apply_diff(m: &mut Mirror, diff_json: &str) {
    match parse_visitor(diff_json).expect("diff parses") {
        VisitorMsg::Diff(d) => m.apply_diff(&d).expect("diff applies"),
        other => panic!("not a diff: {other:?}"),
    }
}

#[tokio::test]
async fn hello_gets_welcome_with_short_key_and_masks() {
    let s = start().await;
    let (_ws, w) = visitor(&s.addr, "1234", None).await;
    let key = w["key"].as_str().expect("key");
    assert_eq!(key.len(), 4, "{w}");
    assert!(key.bytes().all(|b| b.is_ascii_digit()));
    let sid = w["sid"].as_str().expect("sid");
    assert_eq!(sid.len(), 32);
    assert!(sid.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        w["masks"],
        serde_json::json!([
            "#orderPayment\\.cardNumber",
            "#orderPayment\\.cvv",
            ".glance_masked"
        ])
    );
    assert_eq!(w["last"], Value::Null);
    assert_eq!(w["agents"]["count"], 0);
    // The key is unique among the group's live sessions.
    let (_ws2, w2) = visitor(&s.addr, "1234", None).await;
    assert_ne!(w2["key"], w["key"]);
}

#[tokio::test]
async fn late_agent_gets_snapshot_with_diffs_applied() {
    let s = start().await;
    let (mut v, w) = visitor(&s.addr, "1234", Some("LATE1")).await;
    assert_eq!(w["key"], "LATE1");
    send_snap(&mut v).await;
    let d2 = diff(
        2,
        r#"[["c",4,[8,5,7],[[8,1,1,"h1",["id","t"]],[1,2,3,"Title"]]],["a",5,"class","b"],["x",6,"bye"],["s",0,0,300],["w",1024,700]]"#,
    );
    send(&mut v, &d2).await;
    assert_eq!(recv_until(&mut v, "ack").await.0["seq"], 2);

    let mut expected = mirror_of(SNAP);
    apply_diff(&mut expected, &d2);

    let mut a = agent(&s.addr, "LATE1", "Ann").await;
    let sess = recv(&mut a).await;
    assert_eq!(sess["t"], "session");
    assert_eq!(sess["state"], "active");
    assert_eq!(sess["key"], "LATE1");
    assert_eq!(sess["url"], "http://127.0.0.1/demo/checkout.html");
    assert!(sess["ua"].as_str().unwrap_or("").contains("Chrome"));
    let snap = recv_data(&mut a).await;
    let got = mirror_of(&snap);
    assert_eq!(got.records(), expected.records());
    assert_eq!(got.seq, 2);
    assert_eq!(got.scroll, (0.0, 300.0));
    assert_eq!(got.viewport, (1024.0, 700.0));

    // The visitor hears about the agent.
    let (agents, _) = recv_until(&mut v, "agents").await;
    assert_eq!(agents["count"], 1);
    assert_eq!(agents["agentlist"][0]["name"], "Ann");
    assert_eq!(agents["agentlist"][0]["username"], "Ann");
    assert_eq!(agents["agentlist"][0]["role"], "agent");
    assert_eq!(agents["agentlist"][0]["num"], 1);

    // Live diffs are forwarded unchanged.
    let d3 = diff(3, r#"[["x",6,"live"]]"#);
    send(&mut v, &d3).await;
    assert_eq!(recv_data(&mut a).await, d3);

    drop(a);
    let (agents, _) = recv_until(&mut v, "agents").await;
    assert_eq!(agents["count"], 0);
}

#[tokio::test]
async fn duplicate_diff_is_acked_but_not_forwarded() {
    let s = start().await;
    let (mut v, _) = visitor(&s.addr, "1234", Some("DUP-DIFF")).await;
    send_snap(&mut v).await;
    let mut a = agent(&s.addr, "DUP-DIFF", "A").await;
    assert_eq!(recv(&mut a).await["t"], "session");
    assert_eq!(
        serde_json::from_str::<Value>(&recv_data(&mut a).await).expect("json")["t"],
        "snap"
    );
    let d2 = diff(2, r#"[["x",6,"one"]]"#);
    send(&mut v, &d2).await;
    send(&mut v, &d2).await;
    send(&mut v, SNAP).await; // an old snapshot resent: acked, not applied
    let mut acks = Vec::new();
    while acks.len() < 3 {
        let m = recv(&mut v).await;
        if m["t"] == "ack" {
            acks.push(m["seq"].as_u64().unwrap_or(0));
        }
    }
    assert_eq!(acks, vec![2, 2, 1]);
    assert_eq!(recv_text(&mut a).await, d2);
    expect_quiet(&mut a, Duration::from_millis(300)).await;
    let (_, h, body) = http(&s.addr, "GET", "/api/session/DUP-DIFF").await;
    let st: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(st["seq"], 2, "{h:?} {body}");
}

#[tokio::test]
async fn gap_and_bad_diff_trigger_snapreq_and_are_not_forwarded() {
    let s = start().await;
    let (mut v, _) = visitor(&s.addr, "1234", Some("GAP")).await;
    send(&mut v, &diff(1, "[]")).await; // diff before any snapshot
    assert_eq!(recv(&mut v).await["t"], "snapreq");
    send_snap(&mut v).await;
    let mut a = agent(&s.addr, "GAP", "A").await;
    recv_until(&mut a, "snap").await;
    send(&mut v, &diff(5, r#"[["x",6,"x"]]"#)).await;
    recv_until(&mut v, "snapreq").await;
    expect_quiet(&mut a, Duration::from_millis(300)).await;
    // A fresh snapshot resynchronizes; then a diff naming an unknown node asks again.
    let snap3 = SNAP.replace(r#""seq":1"#, r#""seq":3"#);
    send(&mut v, &snap3).await;
    assert_eq!(recv_until(&mut v, "ack").await.0["seq"], 3);
    assert_eq!(recv_text(&mut a).await, snap3);
    send(&mut v, &diff(4, r#"[["x",999,"x"]]"#)).await;
    recv_until(&mut v, "snapreq").await;
    expect_quiet(&mut a, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn malformed_json_closes_only_that_socket() {
    let s = start().await;
    let (mut bad, _) = visitor(&s.addr, "1234", Some("BAD")).await;
    let (mut good, _) = visitor(&s.addr, "1234", Some("GOOD")).await;
    send_snap(&mut good).await;
    send(&mut bad, "{not json").await;
    let (code, reason) = recv_close(&mut bad).await;
    assert_eq!(code, 1008);
    assert!(!reason.is_empty());
    // An unknown op is a protocol error too.
    let (mut bad2, _) = visitor(&s.addr, "1234", Some("BAD2")).await;
    send_snap(&mut bad2).await;
    send(&mut bad2, &diff(2, r#"[["zz",1]]"#)).await;
    assert_eq!(recv_close(&mut bad2).await.0, 1008);
    // The other session goes on.
    send(&mut good, &diff(2, r#"[["x",6,"still here"]]"#)).await;
    assert_eq!(recv_until(&mut good, "ack").await.0["seq"], 2);
}

#[tokio::test]
async fn invalid_key_unknown_group_and_bad_first_frame_are_refused() {
    let s = start().await;
    let mut ws = connect(&s.addr, "/ws/visitor").await;
    send(&mut ws, &hello("1234", Some("bad key!"), None, "p-1")).await;
    let e = recv(&mut ws).await;
    assert_eq!(e["t"], "error");
    assert_eq!(e["code"], "protocol");
    assert_eq!(recv_close(&mut ws).await.0, 1008);

    let mut ws = connect(&s.addr, "/ws/visitor").await;
    send(&mut ws, &hello("9999", None, None, "p-1")).await;
    let e = recv(&mut ws).await;
    assert_eq!(e["t"], "error");
    assert_eq!(e["code"], "service");
    assert!(e["msg"].as_str().unwrap_or("").contains("unknown group"));
    assert_eq!(recv_close(&mut ws).await.0, 1008);

    let mut ws = connect(&s.addr, "/ws/visitor").await;
    send(&mut ws, SNAP).await;
    assert_eq!(recv(&mut ws).await["t"], "error");
    assert_eq!(recv_close(&mut ws).await.0, 1008);
}

#[tokio::test]
async fn hello_timeout_closes_with_1008() {
    let s = start_with(cobrowse_server::ServerOptions {
        hello_timeout: Duration::from_millis(200),
        ..test_options()
    })
    .await;
    let mut ws = connect(&s.addr, "/ws/visitor").await;
    assert_eq!(recv_close(&mut ws).await.0, 1008);
}

#[tokio::test]
async fn duplicate_keys_refused_unless_the_group_allows_them() {
    let s = start().await;
    let (_v1, _) = visitor(&s.addr, "1234", Some("SAME")).await;
    let mut v2 = connect(&s.addr, "/ws/visitor").await;
    send(&mut v2, &hello("1234", Some("SAME"), None, "p-1")).await;
    let e = recv(&mut v2).await;
    assert_eq!(e["t"], "error");
    assert_eq!(e["code"], "dupkey");
    assert_eq!(recv_close(&mut v2).await.0, 1008);
    // Another group may use the same key; group 5678 allows duplicates.
    let (_a, wa) = visitor(&s.addr, "5678", Some("SAME")).await;
    let (_b, wb) = visitor(&s.addr, "5678", Some("SAME")).await;
    assert_eq!(wa["key"], "SAME");
    assert_eq!(wb["key"], "SAME");
    assert_ne!(wa["sid"], wb["sid"]);
    assert_eq!(wa["masks"], serde_json::json!([]));
}

#[tokio::test]
async fn agent_end_ends_the_session_for_everyone() {
    let s = start().await;
    let (mut v, _) = visitor(&s.addr, "1234", Some("ENDME")).await;
    send_snap(&mut v).await;
    let mut a1 = agent(&s.addr, "ENDME", "A1").await;
    let mut a2 = agent(&s.addr, "ENDME", "A2").await;
    recv_until(&mut a1, "snap").await;
    recv_until(&mut a2, "snap").await;
    send(&mut a1, r#"{"t":"end"}"#).await;
    let (end, _) = recv_until(&mut v, "end").await;
    assert_eq!(end["reason"], "agent");
    assert_eq!(recv_close(&mut v).await.0, 1000);
    for a in [&mut a1, &mut a2] {
        let (ended, _) = recv_until(a, "ended").await;
        assert_eq!(ended["reason"], "agent");
        assert_eq!(recv_close(a).await.0, 1000);
    }
    let (status, _, body) = http(&s.addr, "GET", "/api/session/ENDME").await;
    assert_eq!(status, 404);
    assert!(body.contains("session not found"));
}

#[tokio::test]
async fn visitor_end_pause_and_bye_reach_agents() {
    let s = start().await;
    let (mut v, _) = visitor(&s.addr, "1234", Some("STATES")).await;
    send_snap(&mut v).await;
    let mut a = agent(&s.addr, "STATES", "A").await;
    recv_until(&mut a, "snap").await;
    send(&mut v, r#"{"t":"pause","paused":true}"#).await;
    assert_eq!(recv_until(&mut a, "session").await.0["state"], "paused");
    send(&mut v, r#"{"t":"pause","paused":false}"#).await;
    assert_eq!(recv_until(&mut a, "session").await.0["state"], "active");
    send(&mut v, r#"{"t":"bye"}"#).await;
    assert_eq!(recv_until(&mut a, "session").await.0["state"], "away");
    send(&mut v, r#"{"t":"end"}"#).await;
    assert_eq!(recv_until(&mut a, "ended").await.0["reason"], "visitor");
    assert_eq!(recv_close(&mut v).await.0, 1000);
}

#[tokio::test]
async fn two_agents_see_the_same_stream() {
    let s = start().await;
    let (mut v, w) = visitor(&s.addr, "1234", None).await;
    let key = w["key"].as_str().expect("key").to_string();
    send_snap(&mut v).await;
    let mut a1 = agent(&s.addr, &key, "One").await;
    let mut a2 = agent(&s.addr, &key, "Two").await;
    let s1 = recv_until(&mut a1, "snap").await.0;
    let s2 = recv_until(&mut a2, "snap").await.0;
    assert_eq!(s1, s2);
    let mut sent = Vec::new();
    for seq in 2..12 {
        let d = diff(seq, &format!(r#"[["x",6,"n{seq}"]]"#));
        send(&mut v, &d).await;
        sent.push(d);
    }
    for a in [&mut a1, &mut a2] {
        for d in &sent {
            assert_eq!(&recv_data(a).await, d);
        }
    }
    let (agents, _) = recv_until(&mut v, "agents").await;
    let agents = if agents["count"] == 1 {
        recv_until(&mut v, "agents").await.0
    } else {
        agents
    };
    assert_eq!(agents["count"], 2);
    let names: Vec<&str> = agents["agentlist"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, vec!["One", "Two"]);
}

#[tokio::test]
async fn resume_by_sid_returns_last_page_and_seq() {
    let s = start().await;
    let (mut v, w) = visitor(&s.addr, "1234", Some("RESUME")).await;
    let sid = w["sid"].as_str().expect("sid").to_string();
    send_snap(&mut v).await;
    send(&mut v, &diff(2, r#"[["x",6,"two"]]"#)).await;
    recv_until(&mut v, "ack").await;
    drop(v);
    let mut a = agent(&s.addr, "RESUME", "A").await;
    // The visitor socket is gone: the session is away but kept.
    let sess = recv(&mut a).await;
    let sess = if sess["state"] == "away" {
        sess
    } else {
        recv_until(&mut a, "session").await.0
    };
    assert_eq!(sess["state"], "away");

    let mut v2 = connect(&s.addr, "/ws/visitor").await;
    send(&mut v2, &hello("1234", Some("RESUME"), Some(&sid), "p-1")).await;
    let w2 = recv(&mut v2).await;
    assert_eq!(w2["t"], "welcome");
    assert_eq!(w2["key"], "RESUME");
    assert_eq!(w2["sid"], sid.as_str());
    assert_eq!(w2["last"], serde_json::json!({"page": "p-1", "seq": 2}));
    assert_eq!(w2["agents"]["count"], 1);
    assert_eq!(recv_until(&mut a, "session").await.0["state"], "active");
    // The resent tail is idempotent; new diffs continue.
    send(&mut v2, &diff(2, r#"[["x",6,"two"]]"#)).await;
    send(&mut v2, &diff(3, r#"[["x",6,"three"]]"#)).await;
    assert_eq!(recv_until(&mut v2, "ack").await.0["seq"], 2);
    assert_eq!(recv_until(&mut v2, "ack").await.0["seq"], 3);
    assert_eq!(recv_text(&mut a).await, diff(3, r#"[["x",6,"three"]]"#));

    // A new page: away until its snapshot, then active again.
    let mut v3 = connect(&s.addr, "/ws/visitor").await;
    send(&mut v3, &hello("1234", None, Some(&sid), "p-2")).await;
    assert_eq!(recv(&mut v3).await["last"]["page"], "p-1");
    // The previous socket is replaced (private close code 4001).
    assert_eq!(recv_close(&mut v2).await.0, 4001);
    let snap_p2 = SNAP.replace("p-1", "p-2");
    send(&mut v3, &snap_p2).await;
    assert_eq!(recv_until(&mut v3, "ack").await.0["page"], "p-2");
    let (snap, before) = recv_until(&mut a, "snap").await;
    assert_eq!(snap["page"], "p-2");
    assert!(before.iter().any(|m| m["state"] == "away"), "{before:?}");
    assert_eq!(recv_until(&mut a, "session").await.0["state"], "active");
}

#[tokio::test]
async fn drop_hook_closes_the_visitor_socket_without_ending_the_session() {
    let s = start().await;
    let (mut v, w) = visitor(&s.addr, "1234", Some("DROPME")).await;
    let sid = w["sid"].as_str().expect("sid").to_string();
    send_snap(&mut v).await;
    let (status, _, _) = http(&s.addr, "POST", "/__test/drop/DROPME").await;
    assert_eq!(status, 200);
    // No close frame: the stream errors or ends.
    match tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut v)).await {
        Ok(None) | Ok(Some(Err(_))) => {}
        other => panic!("expected an abrupt close, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _, body) = http(&s.addr, "GET", "/api/session/DROPME").await;
    assert_eq!(status, 200);
    let st: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(st["state"], "away");
    assert_eq!(st["key"], "DROPME");
    assert_eq!(st["page"], "p-1");
    assert_eq!(st["seq"], 1);
    assert_eq!(st["agents"], 0);
    assert_eq!(st["url"], "http://127.0.0.1/demo/checkout.html");
    let mut v2 = connect(&s.addr, "/ws/visitor").await;
    send(&mut v2, &hello("1234", Some("DROPME"), Some(&sid), "p-1")).await;
    assert_eq!(
        recv(&mut v2).await["last"],
        serde_json::json!({"page": "p-1", "seq": 1})
    );
    assert_eq!(http(&s.addr, "POST", "/__test/drop/NOPE").await.0, 404);
}

#[tokio::test]
async fn drop_hook_is_absent_without_test_hooks() {
    let s = start_with(cobrowse_server::ServerOptions::default()).await;
    let (_v, _) = visitor(&s.addr, "1234", Some("HOOK")).await;
    assert_eq!(http(&s.addr, "POST", "/__test/drop/HOOK").await.0, 404);
}

#[tokio::test]
async fn agent_waits_for_a_session_that_starts_later() {
    let s = start().await;
    let mut a = agent(&s.addr, "LATER", "A").await;
    let nf = recv(&mut a).await;
    assert_eq!(nf["t"], "session");
    assert_eq!(nf["state"], "notfound");
    let (mut v, _) = visitor(&s.addr, "1234", Some("LATER")).await;
    let sess = recv(&mut a).await;
    assert_eq!(sess["t"], "session");
    assert_eq!(sess["state"], "active");
    send_snap(&mut v).await;
    assert_eq!(recv_data(&mut a).await, SNAP);
    // An invalid key is refused at once.
    let mut bad = agent(&s.addr, "no%20way", "A").await;
    assert_eq!(recv(&mut bad).await["state"], "notfound");
    assert_eq!(recv_close(&mut bad).await.0, 1008);
}

#[tokio::test]
async fn agent_snapreq_and_bad_agent_input() {
    let s = start().await;
    let (mut v, _) = visitor(&s.addr, "1234", Some("SNAPREQ")).await;
    send_snap(&mut v).await;
    let mut a = agent(&s.addr, "SNAPREQ", "A").await;
    let first = recv_until(&mut a, "snap").await.0;
    send(&mut a, r#"{"t":"snapreq"}"#).await;
    assert_eq!(recv_until(&mut a, "snap").await.0, first);
    send(&mut a, "garbage").await;
    assert_eq!(recv_close(&mut a).await.0, 1008);
    // The session is unaffected.
    send(&mut v, &diff(2, "[]")).await;
    assert_eq!(recv_until(&mut v, "ack").await.0["seq"], 2);
}

#[tokio::test]
async fn away_sessions_expire() {
    let s = start_with(cobrowse_server::ServerOptions {
        away_ttl: Duration::from_millis(300),
        ..test_options()
    })
    .await;
    let (mut v, _) = visitor(&s.addr, "1234", Some("EXPIRE")).await;
    send_snap(&mut v).await;
    let mut a = agent(&s.addr, "EXPIRE", "A").await;
    recv_until(&mut a, "snap").await;
    drop(v);
    assert_eq!(recv_until(&mut a, "session").await.0["state"], "away");
    assert_eq!(recv_until(&mut a, "ended").await.0["reason"], "timeout");
    assert_eq!(http(&s.addr, "GET", "/api/session/EXPIRE").await.0, 404);
}

#[tokio::test]
async fn session_messages_user_state_and_agent_pause_over_the_sockets() {
    let s = start().await;
    let (mut v, _) = visitor(&s.addr, "1234", Some("MSGS")).await;
    send_snap(&mut v).await;
    send(&mut v, r#"{"t":"userstate","name":"step","value":{"n":2}}"#).await;
    let mut a = agent(&s.addr, "MSGS", "A").await;
    let (snap, before) = recv_until(&mut a, "snap").await;
    assert_eq!(snap["seq"], 1);
    assert!(
        before
            .iter()
            .any(|f| f["t"] == "userstate" && f["name"] == "step" && f["value"]["n"] == 2),
        "a joining agent gets the user state: {before:?}"
    );
    // Visitor -> agent.
    send(&mut v, r#"{"t":"msg","name":"hello","data":{"foo":123}}"#).await;
    let (m, _) = recv_until(&mut a, "msg").await;
    assert_eq!(
        (m["name"].as_str(), m["data"]["foo"].as_i64()),
        (Some("hello"), Some(123))
    );
    // Agent -> visitor, and the agent pausing.
    send(&mut a, r#"{"t":"msg","name":"back","data":{"ok":true}}"#).await;
    let (m, _) = recv_until(&mut v, "msg").await;
    assert_eq!(m["data"]["ok"], true);
    send(&mut a, r#"{"t":"pause","paused":true}"#).await;
    assert_eq!(recv_until(&mut v, "pause").await.0["paused"], true);
    assert_eq!(recv_until(&mut a, "session").await.0["state"], "paused");
    // A non-object message from the agent closes its socket with 1008; the session goes on.
    send(&mut a, r#"{"t":"msg","name":"bad","data":42}"#).await;
    assert_eq!(recv_close(&mut a).await.0, 1008);
    let (status, _, _) = http(&s.addr, "GET", "/api/session/MSGS").await;
    assert_eq!(status, 200);
    // So does a non-object one from the visitor.
    send(&mut v, r#"{"t":"msg","name":"bad","data":"text"}"#).await;
    assert_eq!(recv_close(&mut v).await.0, 1008);
}

#[tokio::test]
async fn a_page_of_an_ended_session_is_told_it_ended() {
    let s = start().await;
    let (mut v, w) = visitor(&s.addr, "1234", Some("OVER")).await;
    let sid = w["sid"].as_str().expect("sid").to_string();
    send_snap(&mut v).await;
    let mut a = agent(&s.addr, "OVER", "A").await;
    recv_until(&mut a, "snap").await;
    send(&mut a, r#"{"t":"end"}"#).await;
    recv_until(&mut v, "end").await;
    // Another page (tab) of the session comes back with its sid: told `end`, no new session.
    let mut v2 = connect(&s.addr, "/ws/visitor").await;
    send(&mut v2, &hello("1234", Some("OVER"), Some(&sid), "p-2")).await;
    let end = recv(&mut v2).await;
    assert_eq!(
        (end["t"].as_str(), end["reason"].as_str()),
        (Some("end"), Some("agent"))
    );
    assert_eq!(recv_close(&mut v2).await.0, 1000);
    let (status, _, _) = http(&s.addr, "GET", "/api/session/OVER").await;
    assert_eq!(status, 404);
}
