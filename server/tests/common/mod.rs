//! Test harness: an in-process server on an ephemeral port, WebSocket and HTTP helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use cobrowse_server::config::Config;
use cobrowse_server::ServerOptions;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

/// A client socket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for an expected frame.
pub const WAIT: Duration = Duration::from_secs(5);

pub const CONFIG: &str = r##"
agent_origins = ["https://console.example"]
presence_secret = "test-presence-secret"
[groups.1234]
masks = ["#orderPayment\\.cardNumber", "#orderPayment\\.cvv", ".glance_masked"]
trusted_domains = ["localhost", "https://chat.example"]
allow_duplicate_keys = false
[groups.5678]
masks = []
allow_duplicate_keys = true

# Agents of the socket tests: password "pw", display name = username unless given.
[agents.A]
password = "pw"
[agents.A1]
password = "pw"
[agents.A2]
password = "pw"
[agents.Ann]
password = "pw"
[agents.One]
password = "pw"
[agents.Two]
password = "pw"
[agents.agnes]
password = "agnes-pass"
name = "Agnes Agent"
title = "Support"
partnerid = 1234
partneruserid = "agnes@example.com"
[agents.bob]
password = "bob-pass"
name = "Bob Builder"
[partners.1234]
apikey = "e2e-partner-secret"
"##;

/// A running server.
pub struct Server {
    pub addr: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn test_options() -> ServerOptions {
    ServerOptions {
        test_hooks: true,
        ..ServerOptions::default()
    }
}

pub async fn start() -> Server {
    start_with(test_options()).await
}

pub async fn start_with(opts: ServerOptions) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let config = Config::parse(CONFIG).expect("config");
    let task = tokio::spawn(async move {
        let _ = cobrowse_server::serve(listener, config, opts).await;
    });
    Server { addr, task }
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let mut p = std::env::temp_dir();
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        p.push(format!("cobrowse-server-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        TempDir(p)
    }
    pub fn write(&self, rel: &str, body: &str) {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn connect(addr: &str, path: &str) -> Ws {
    let (ws, _) = tokio::time::timeout(WAIT, connect_async(format!("ws://{addr}{path}")))
        .await
        .expect("connect timeout")
        .expect("connect");
    ws
}

pub async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.into())).await.expect("send");
}

/// The next text frame as raw text (panics on close or timeout).
pub async fn recv_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

pub async fn recv(ws: &mut Ws) -> Value {
    let t = recv_text(ws).await;
    serde_json::from_str(&t).expect("json")
}

/// Receives frames until one has `"t": t` (others are returned in order, for inspection).
pub async fn recv_until(ws: &mut Ws, t: &str) -> (Value, Vec<Value>) {
    let mut skipped = Vec::new();
    loop {
        let v = recv(ws).await;
        if v["t"] == t {
            return (v, skipped);
        }
        skipped.push(v);
    }
}

/// Expects a close frame; returns its code and reason.
pub async fn recv_close(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                return (u16::from(f.code), f.reason.to_string())
            }
            Ok(Some(Ok(Message::Close(None)))) => {
                return (u16::from(CloseCode::Status), String::new())
            }
            Ok(Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_)))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Expects that no text frame arrives within `d`.
pub async fn expect_quiet(ws: &mut Ws, d: Duration) {
    loop {
        match tokio::time::timeout(d, ws.next()).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(other) => panic!("expected silence, got {other:?}"),
        }
    }
}

pub fn hello(group: &str, key: Option<&str>, sid: Option<&str>, page: &str) -> String {
    serde_json::json!({
        "t": "hello", "v": 1, "group": group, "site": "staging", "key": key, "sid": sid,
        "page": page, "url": "http://127.0.0.1/demo/checkout.html", "title": "Checkout",
        "ua": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
        "paused": false, "visitorid": null
    })
    .to_string()
}

/// Opens a visitor socket and returns it with its welcome.
pub async fn visitor(addr: &str, group: &str, key: Option<&str>) -> (Ws, Value) {
    let mut ws = connect(addr, "/ws/visitor").await;
    send(&mut ws, &hello(group, key, None, "p-1")).await;
    let w = recv(&mut ws).await;
    assert_eq!(w["t"], "welcome", "{w}");
    (ws, w)
}

pub const SNAP: &str = r#"{"t":"snap","page":"p-1","seq":1,"url":"http://127.0.0.1/demo/checkout.html","base":"http://127.0.0.1/demo/","title":"Checkout","vw":1280,"vh":720,"sx":0,"sy":0,"nodes":[[1,1,10,"html"],[1,1,1,"html",[]],[1,2,1,"head",[]],[1,2,1,"body",[]],[1,3,1,"p",["class","a"]],[1,4,3,"hello"],[1,3,1,"input",["id","orderPayment.cardNumber"],{"m":[200,20]}]]}"#;

pub fn diff(seq: u64, ops: &str) -> String {
    format!(r#"{{"t":"diff","page":"p-1","seq":{seq},"ops":{ops}}}"#)
}

/// Sends the standard snapshot and waits for its ack.
pub async fn send_snap(ws: &mut Ws) {
    send(ws, SNAP).await;
    let a = recv_until(ws, "ack").await.0;
    assert_eq!(a["seq"], 1);
}

/// A minimal HTTP/1.1 request; returns (status, headers lowercased, body).
pub async fn http(addr: &str, method: &str, path: &str) -> (u16, Vec<(String, String)>, String) {
    http_req(addr, method, path, &[], "").await
}

/// An HTTP/1.1 request with extra headers and a body; returns (status, headers, body).
pub async fn http_req(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(addr).await.expect("tcp");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("http timeout")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// `POST /api/agent/auth` with a JSON body: (status, answer).
pub async fn auth(addr: &str, body: Value) -> (u16, Value, Vec<(String, String)>) {
    let (st, h, b) = http_req(
        addr,
        "POST",
        "/api/agent/auth",
        &[("Content-Type", "application/json")],
        &body.to_string(),
    )
    .await;
    (st, serde_json::from_str(&b).unwrap_or(Value::Null), h)
}

/// A token for agent `user` (password "pw", see [`CONFIG`]).
pub async fn token(addr: &str, user: &str) -> String {
    let pw = match user {
        "agnes" => "agnes-pass",
        "bob" => "bob-pass",
        _ => "pw",
    };
    let (st, v, _) = auth(addr, serde_json::json!({"username": user, "password": pw})).await;
    assert_eq!(st, 200, "{v}");
    v["token"].as_str().expect("token").to_string()
}

/// An agent socket on session `key` (a URL-encoded query value), authenticated as `user`.
pub async fn agent(addr: &str, key: &str, user: &str) -> Ws {
    let t = token(addr, user).await;
    connect(addr, &format!("/ws/agent?key={key}&token={t}")).await
}

/// The next text frame that is not an `agents` list (those come on every join and leave).
pub async fn recv_data(ws: &mut Ws) -> String {
    loop {
        let t = recv_text(ws).await;
        if !t.starts_with(r#"{"agentlist""#) && !t.contains(r#""t":"agents""#) {
            return t;
        }
    }
}

pub fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}
