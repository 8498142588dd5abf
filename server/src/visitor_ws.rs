//! The visitor WebSocket, `/ws/visitor` (see `docs/PROTOCOL.md`).
//!
//! The first frame must be a `hello` within the hello timeout. After the `welcome`, every frame
//! is parsed with [`parse_visitor`] and handed to the session state machine, which validates it
//! against the mirror; the socket task only turns the outcome into `ack`/`snapreq`/close.
//! Invalid input closes this socket with 1008 and a reason; no other session is affected.
//! Instructions from the session (agent list changes, end by an agent, replacement by a newer
//! socket, the test drop hook) arrive on a bounded control channel.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use glance_cobrowse::protocol::{parse_visitor, VisitorMsg, MAX_MESSAGE_BYTES};
use serde_json::json;
use tokio::sync::mpsc;

use crate::sessions::{EndReason, OpenError, Opened, VisitorCtl, VisitorOutcome};
use crate::AppState;

/// WebSocket close code for a policy violation (invalid input).
pub const POLICY: u16 = 1008;
/// Normal closure.
pub const NORMAL: u16 = 1000;
/// Private-use close code: a newer visitor socket (next page, reconnect, other tab) took over
/// the session, so this one should not reconnect.
pub const REPLACED: u16 = 4001;

/// Capacity of a visitor socket's control queue.
const CTL_QUEUE: usize = 64;

/// How long one send to the visitor may take before the socket is given up.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// `GET /ws/visitor`.
pub async fn handler(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| run(socket, state))
}

/// A close frame; the reason is cut to the 123 bytes a close frame can carry.
pub fn close_frame(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(&reason[..end]),
    }))
}

/// Sends `msg`, giving up after [`SEND_TIMEOUT`]. Returns false if the socket is unusable.
pub async fn send(ws: &mut WebSocket, msg: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, ws.send(msg)).await,
        Ok(Ok(()))
    )
}

/// Sends a close frame (best effort).
pub async fn close(ws: &mut WebSocket, code: u16, reason: &str) {
    let _ = send(ws, close_frame(code, reason)).await;
}

async fn refuse(ws: &mut WebSocket, code: &str, msg: &str) {
    let err = json!({"t": "error", "code": code, "msg": msg}).to_string();
    if send(ws, Message::Text(err.into())).await {
        close(ws, POLICY, msg).await;
    }
}

/// What a received frame means before parsing.
enum Frame {
    Text(Utf8Bytes),
    Closed,
    Invalid(String),
    Ignore,
}

fn classify(m: Option<Result<Message, axum::Error>>) -> Frame {
    match m {
        Some(Ok(Message::Text(t))) => Frame::Text(t),
        // The engine gzips large messages (browser CompressionStream) and sends them as binary.
        Some(Ok(Message::Binary(b))) => {
            match gunzip(&b, glance_cobrowse::protocol::MAX_MESSAGE_BYTES) {
                Ok(t) => Frame::Text(t.into()),
                Err(e) => Frame::Invalid(e),
            }
        }
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Frame::Ignore,
        Some(Ok(Message::Close(_))) | None => Frame::Closed,
        // Oversized or malformed frames; if the connection is simply gone, the close fails.
        Some(Err(e)) => Frame::Invalid(format!("invalid frame: {e}")),
    }
}

/// Decompresses a gzip binary frame into UTF-8 text, refusing more than `limit` bytes of output
/// (a small frame cannot inflate into unbounded memory).
fn gunzip(bytes: &[u8], limit: usize) -> Result<String, String> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("binary frame is not gzip: {e}"))?;
    if out.len() > limit {
        return Err("message too large".into());
    }
    String::from_utf8(out).map_err(|_| "binary frame is not UTF-8 text".into())
}

async fn run(mut ws: WebSocket, state: AppState) {
    // 1. hello
    let first = match tokio::time::timeout(state.opts.hello_timeout, ws.recv()).await {
        Ok(m) => m,
        Err(_) => {
            close(&mut ws, POLICY, "no hello").await;
            return;
        }
    };
    let text = match classify(first) {
        Frame::Text(t) => t,
        Frame::Invalid(reason) => {
            close(&mut ws, POLICY, &reason).await;
            return;
        }
        Frame::Closed => return,
        Frame::Ignore => {
            close(&mut ws, POLICY, "expected hello").await;
            return;
        }
    };
    let hello = match parse_visitor(&text) {
        Ok(VisitorMsg::Hello(h)) => h,
        Ok(_) => {
            refuse(&mut ws, "protocol", "expected hello").await;
            return;
        }
        Err(e) => {
            refuse(&mut ws, "protocol", &e.to_string()).await;
            return;
        }
    };
    let (tx, rx) = mpsc::channel(CTL_QUEUE);
    let opened = match state.registry.open_visitor(&hello, tx) {
        Ok(o) => o,
        Err(OpenError::Ended(reason)) => {
            // A page of a session that ended meanwhile (another tab, a slow navigation).
            let end = json!({"t": "end", "reason": reason.as_str()}).to_string();
            if send(&mut ws, Message::Text(end.into())).await {
                close(&mut ws, NORMAL, "session ended").await;
            }
            return;
        }
        Err(e) => {
            if matches!(e, OpenError::UnknownGroup(_) | OpenError::NoKeyAvailable) {
                eprintln!("visitor refused: {e}");
            }
            refuse(&mut ws, e.code(), &e.to_string()).await;
            return;
        }
    };
    eprintln!(
        "visitor {} session {}/{} page {}",
        if opened.resumed { "resumed" } else { "opened" },
        opened.session.group,
        opened.session.key,
        hello.page
    );
    if !send(&mut ws, Message::Text(opened.welcome.clone().into())).await {
        opened.session.detach_visitor(opened.conn);
        return;
    }
    stream(ws, state, opened, rx).await;
}

/// How the streaming loop ended.
enum Exit {
    /// The socket is gone (closed by the peer, or dropped by us): the visitor may come back.
    Detach,
    /// The session ended (the close frame was sent).
    Ended,
}

async fn stream(
    mut ws: WebSocket,
    state: AppState,
    opened: Opened,
    mut rx: mpsc::Receiver<VisitorCtl>,
) {
    let Opened { session, conn, .. } = opened;
    let exit = loop {
        tokio::select! {
            ctl = rx.recv() => match ctl {
                Some(VisitorCtl::Send(s)) => {
                    if !send(&mut ws, Message::Text(s.into())).await {
                        break Exit::Detach;
                    }
                }
                Some(VisitorCtl::End(reason)) => {
                    let end = json!({"t": "end", "reason": reason.as_str()}).to_string();
                    if send(&mut ws, Message::Text(end.into())).await {
                        close(&mut ws, NORMAL, "session ended").await;
                    }
                    break Exit::Ended;
                }
                Some(VisitorCtl::Replaced) => {
                    close(&mut ws, REPLACED, "replaced by a newer connection").await;
                    break Exit::Detach;
                }
                // Dropping the socket without a close frame.
                Some(VisitorCtl::Drop) | None => break Exit::Detach,
            },
            m = ws.recv() => {
                let text = match classify(m) {
                    Frame::Text(t) => t,
                    Frame::Ignore => continue,
                    Frame::Closed => break Exit::Detach,
                    Frame::Invalid(reason) => {
                        close(&mut ws, POLICY, &reason).await;
                        break Exit::Detach;
                    }
                };
                let msg = match parse_visitor(&text) {
                    Ok(m) => m,
                    Err(e) => {
                        close(&mut ws, POLICY, &e.to_string()).await;
                        break Exit::Detach;
                    }
                };
                match session.visitor_message(conn, &msg, &text) {
                    VisitorOutcome::Ack { page, seq } => {
                        let ack = json!({"t": "ack", "page": page, "seq": seq}).to_string();
                        if !send(&mut ws, Message::Text(ack.into())).await {
                            break Exit::Detach;
                        }
                    }
                    VisitorOutcome::Snapreq => {
                        if !send(&mut ws, Message::Text(r#"{"t":"snapreq"}"#.into())).await {
                            break Exit::Detach;
                        }
                    }
                    VisitorOutcome::Nothing => {}
                    VisitorOutcome::Ended => {
                        state.registry.end(&session, EndReason::Visitor);
                        close(&mut ws, NORMAL, "session ended").await;
                        break Exit::Ended;
                    }
                    VisitorOutcome::Reject(reason) => {
                        close(&mut ws, POLICY, &reason).await;
                        break Exit::Detach;
                    }
                    VisitorOutcome::Stale => {
                        close(&mut ws, NORMAL, "session no longer attached").await;
                        break Exit::Ended;
                    }
                }
            }
        }
    };
    if let Exit::Detach = exit {
        session.detach_visitor(conn);
    }
}

#[cfg(test)]
mod gzip_tests {
    use super::gunzip;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflates_and_bounds_binary_frames() {
        assert_eq!(
            gunzip(&gz(b"{\"t\":\"bye\"}"), 100).unwrap(),
            "{\"t\":\"bye\"}"
        );
        // A small bomb: 10 MB of zeros compress to ~10 KB; a 1 MB limit refuses it.
        let bomb = gz(&vec![b'0'; 10 << 20]);
        assert!(bomb.len() < 64 << 10);
        assert_eq!(gunzip(&bomb, 1 << 20).unwrap_err(), "message too large");
        assert!(gunzip(b"not gzip", 100).is_err());
        assert!(gunzip(&gz(&[0xff, 0xfe]), 100).is_err());
    }
}
