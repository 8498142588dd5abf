//! `cobrowse-server`: the session service between visitor engines and agent viewers.
//!
//! - [`config`]: group configuration (masks, duplicate-key policy) from TOML;
//! - [`sessions`]: the session registry and per-session state machine (mirror, status, agents);
//! - [`bus`]: the fan-out seam (in-process broadcast now, NATS/Redis later);
//! - [`visitor_ws`] / [`agent_ws`]: the two WebSocket endpoints of `docs/PROTOCOL.md`;
//! - [`handoff`]: cross-domain hand-off tokens (single-use, short-lived, bound to an origin);
//! - [`auth`] / [`agent_api`]: agent identities, tokens and join tickets; `/api/agent/auth` and
//!   `/api/agent/lookup`;
//! - [`jwt`] / [`presence`] / [`presence_ws`] / [`presence_api`]: presence (visitors known to be
//!   on a page, agent tokens for a group, the presence sockets and REST calls);
//! - [`remote`]: the rules of remote control and guidance (field checks, the `nav` trust check);
//! - [`http`]: static files, the agent viewer, `/api/session/KEY`, `/api/handoff` and the test hooks.
//!
//! [`serve`] runs everything on a bound listener; the binary (`main.rs`) only parses flags.
#![deny(missing_docs, missing_debug_implementations)]

pub mod agent_api;
pub mod agent_ws;
pub mod auth;
pub mod bus;
pub mod config;
pub mod handoff;
pub mod http;
pub mod jwt;
pub mod presence;
pub mod presence_api;
pub mod presence_ws;
pub mod remote;
pub mod sessions;
pub mod visitor_ws;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::bus::{Bus, InProcessBus};
use crate::config::Config;
use crate::sessions::Registry;

/// Runtime options (from the command line; tests shorten the timeouts).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Repository root holding `dist/`, `demo-site/`, `skins/`, `server/viewer/`.
    pub root: PathBuf,
    /// Enables `POST /__test/drop/KEY`.
    pub test_hooks: bool,
    /// How long a session waits for its visitor to come back.
    pub away_ttl: Duration,
    /// How long a session may go without any agent before it ends (`timeout`).
    pub idle_ttl: Duration,
    /// How long a new visitor socket may take to send `hello`.
    pub hello_timeout: Duration,
    /// How long an agent socket waits for an unknown session to appear.
    pub agent_wait: Duration,
    /// Per-session bus buffer (messages) before a slow agent is resynchronized.
    pub bus_capacity: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            root: PathBuf::from("."),
            test_hooks: false,
            away_ttl: sessions::AWAY_TTL,
            idle_ttl: sessions::IDLE_TTL,
            hello_timeout: Duration::from_secs(10),
            agent_wait: Duration::from_secs(10 * 60),
            bus_capacity: bus::DEFAULT_CAPACITY,
        }
    }
}

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// All sessions.
    pub registry: Arc<Registry>,
    /// Options.
    pub opts: Arc<ServerOptions>,
    /// Outstanding cross-domain hand-off tokens.
    pub handoffs: Arc<Mutex<handoff::Handoffs>>,
    /// Agent tokens and join tickets.
    pub tokens: Arc<Mutex<auth::Tokens>>,
    /// The address the server listens on (`serverip` of the agent lookup).
    pub local_ip: Option<IpAddr>,
    /// The presence registry (and the presence token secret).
    pub presence: Arc<presence::Presence>,
}

impl AppState {
    /// State with an in-process bus.
    pub fn new(config: Config, opts: ServerOptions) -> Self {
        let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new(opts.bus_capacity));
        let secret = match &config.presence_secret {
            Some(s) => s.0.as_bytes().to_vec(),
            None => {
                let mut b = vec![0u8; 32];
                if getrandom::fill(&mut b).is_err() {
                    // No OS randomness: a weak key; say so (set presence_secret in production).
                    eprintln!("presence: no OS randomness; set presence_secret in the config");
                    b = format!("{:?}{:p}", Instant::now(), &b).into_bytes();
                }
                b
            }
        };
        AppState {
            registry: Arc::new(
                Registry::new(Arc::new(config), bus, opts.away_ttl).with_idle_ttl(opts.idle_ttl),
            ),
            opts: Arc::new(opts),
            handoffs: Arc::default(),
            tokens: Arc::default(),
            local_ip: None,
            presence: Arc::new(presence::Presence::new(secret)),
        }
    }
}

/// Serves until the listener fails. Also runs the expiry sweeper.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    opts: ServerOptions,
) -> std::io::Result<()> {
    let mut state = AppState::new(config, opts);
    state.local_ip = listener.local_addr().ok().map(|a| a.ip());
    let registry = state.registry.clone();
    let every = (state.opts.away_ttl.min(state.opts.idle_ttl) / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(10));
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            registry.sweep(Instant::now());
        }
    });
    let res = axum::serve(listener, http::router(state)).await;
    sweeper.abort();
    res
}
