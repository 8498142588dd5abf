//! The static routes of `docs/LAYOUT.md`, served from a scratch `--root`.

mod common;

use common::*;

async fn server_with_root() -> (Server, TempDir) {
    let root = TempDir::new("static");
    root.write("dist/cobrowse/GlanceCobrowseLoader.js", "export {};");
    root.write("dist/cobrowse/glance_cobrowse_bg.wasm", "\0asm");
    root.write("skins/default.css", ".glance{}");
    root.write("demo-site/index.html", "<!doctype html><p>demo");
    root.write("tests/e2e/pages/basic.html", "<!doctype html><p>basic");
    root.write("server/viewer/index.html", "<!doctype html><p>landing");
    root.write("server/viewer/AgentView.html", "<!doctype html><p>viewer");
    root.write("server/viewer/viewer.js", "void 0;");
    root.write("secret.txt", "top secret");
    let s = start_with(cobrowse_server::ServerOptions {
        root: root.0.clone(),
        ..test_options()
    })
    .await;
    (s, root)
}

#[tokio::test]
async fn serves_the_layout() {
    let (s, _root) = server_with_root().await;

    let (st, h, body) = http(&s.addr, "GET", "/cobrowse/GlanceCobrowseLoader.js").await;
    assert_eq!(st, 200);
    assert_eq!(body, "export {};");
    assert!(header(&h, "content-type")
        .unwrap_or("")
        .starts_with("text/javascript"));
    assert_eq!(header(&h, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&h, "cache-control"), Some("no-cache"));

    let (st, h, _) = http(&s.addr, "GET", "/cobrowse/glance_cobrowse_bg.wasm").await;
    assert_eq!(st, 200);
    assert_eq!(header(&h, "content-type"), Some("application/wasm"));

    let (st, _, body) = http(&s.addr, "GET", "/cobrowse/skins/default.css").await;
    assert_eq!((st, body.as_str()), (200, ".glance{}"));
    let (st, _, body) = http(&s.addr, "GET", "/demo/").await;
    assert_eq!((st, body.as_str()), (200, "<!doctype html><p>demo"));
    let (st, _, body) = http(&s.addr, "GET", "/test-pages/basic.html").await;
    assert_eq!((st, body.as_str()), (200, "<!doctype html><p>basic"));

    let (st, h, _) = http(&s.addr, "GET", "/").await;
    assert_eq!(st / 100, 3);
    assert_eq!(header(&h, "location"), Some("/demo/"));
}

#[tokio::test]
async fn viewer_routes_carry_a_strict_csp() {
    let (s, _root) = server_with_root().await;
    for (path, body) in [
        (
            "/agentjoin/AgentView.aspx?SessionKey=1234&wait=1",
            "<!doctype html><p>viewer",
        ),
        ("/agent/", "<!doctype html><p>landing"),
        ("/agent/viewer.js", "void 0;"),
    ] {
        let (st, h, b) = http(&s.addr, "GET", path).await;
        assert_eq!((st, b.as_str()), (200, body), "{path}");
        let csp = header(&h, "content-security-policy").unwrap_or("");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("object-src 'none'"));
        assert!(csp.contains("base-uri 'none'"));
        assert!(!csp.contains("unsafe-eval"));
        assert!(
            csp.contains("frame-ancestors 'self' https://console.example"),
            "{path}: {csp}"
        );
    }
    let (_, h, _) = http(&s.addr, "GET", "/agentjoin/AgentView.aspx").await;
    assert!(header(&h, "content-type")
        .unwrap_or("")
        .starts_with("text/html"));
}

#[tokio::test]
async fn no_path_traversal() {
    let (s, _root) = server_with_root().await;
    for path in [
        "/demo/../secret.txt",
        "/demo/%2e%2e/secret.txt",
        "/demo/..%2fsecret.txt",
        "/cobrowse/..%2f..%2fsecret.txt",
        "/agent/%2e%2e/%2e%2e/secret.txt",
        "/secret.txt",
    ] {
        let (st, _, body) = http(&s.addr, "GET", path).await;
        assert_ne!(st, 200, "{path}");
        assert!(!body.contains("top secret"), "{path}");
    }
}

#[tokio::test]
async fn session_api_reports_404_json_for_unknown_keys() {
    let (s, _root) = server_with_root().await;
    let (st, h, body) = http(&s.addr, "GET", "/api/session/NOPE").await;
    assert_eq!(st, 404);
    assert!(header(&h, "content-type").unwrap_or("").contains("json"));
    assert_eq!(body, r#"{"error":"session not found"}"#);
    let (_v, w) = visitor(&s.addr, "1234", None).await;
    let key = w["key"].as_str().expect("key");
    let (st, _, body) = http(&s.addr, "GET", &format!("/api/session/{key}")).await;
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["key"], key);
    assert_eq!(v["state"], "active");
    assert_eq!(v["page"], serde_json::Value::Null);
}

#[tokio::test]
async fn group_trusted_domains_endpoint_is_public_json() {
    let (s, _root) = server_with_root().await;
    let (st, h, body) = http(&s.addr, "GET", "/api/group/1234/trusted").await;
    assert_eq!(st, 200);
    assert_eq!(header(&h, "access-control-allow-origin"), Some("*"));
    assert_eq!(
        body,
        r#"{"crossdomain_helpers":[],"trusted_domains":["localhost","https://chat.example"]}"#
    );
    let (st, _, body) = http(&s.addr, "GET", "/api/group/5678/trusted").await;
    assert_eq!(
        (st, body.as_str()),
        (200, r#"{"crossdomain_helpers":[],"trusted_domains":[]}"#)
    );
    let (st, _, body) = http(&s.addr, "GET", "/api/group/999/trusted").await;
    assert_eq!((st, body.as_str()), (404, r#"{"error":"unknown group"}"#));
}
