//! Native test support: an html5ever-built arena DOM ([`dom`]), a twin of the browser walker
//! that turns it into the engine's flat batches ([`walker`]), and the expected agent view
//! ([`compare`]). [`Session`] wires them to a `Recorder` and a `Mirror` like the browser engine
//! and the server do.
#![allow(dead_code)]

pub mod compare;
pub mod dom;
pub mod walker;

use glance_cobrowse::capture::{CaptureError, PageMeta, Recorder};
use glance_cobrowse::mirror::Mirror;
use glance_cobrowse::protocol::{NodeRecord, VisitorMsg};

use compare::{assert_mirror_matches, parse_diff, parse_snap};
use dom::Dom;
use walker::{Batch, MaskFn, Walker};

/// The URL fixtures are "loaded" from.
pub const PAGE_URL: &str = "https://shop.example.test/demo/checkout.html?step=2#pay";

/// Page meta of `dom` loaded from `url`.
pub fn meta_of(dom: &Dom, url: &str) -> PageMeta {
    PageMeta {
        url: url.to_string(),
        base: dom.base_uri(url),
        title: dom.title(),
        viewport: (dom.viewport.0 as f64, dom.viewport.1 as f64),
        scroll: (dom.scroll.0 as f64, dom.scroll.1 as f64),
    }
}

/// One page load: DOM, walker, recorder and the agent's mirror, plus every message sent.
pub struct Session {
    /// The visitor's page.
    pub dom: Dom,
    /// The JS-side walker.
    pub walker: Walker,
    /// The engine.
    pub rec: Recorder,
    /// What the agent has.
    pub mirror: Mirror,
    /// Page URL.
    pub url: String,
    /// Every message sent so far (JSON).
    pub messages: Vec<String>,
    /// Every flat batch handed to the recorder so far.
    pub batches: Vec<Batch>,
    /// When false, [`Session::check`] ignores the order of attributes.
    pub attr_order_matters: bool,
}

impl Session {
    /// Starts a session on `dom` and sends the first snapshot.
    pub fn start(dom: Dom, mask: MaskFn) -> Session {
        Session::with_walker(dom, Walker::new(mask))
    }

    /// Starts a session with a configured walker.
    pub fn with_walker(dom: Dom, walker: Walker) -> Session {
        let mut s = Session {
            dom,
            walker,
            rec: Recorder::new("p-test"),
            mirror: Mirror::new(),
            url: PAGE_URL.to_string(),
            messages: Vec::new(),
            batches: Vec::new(),
            attr_order_matters: true,
        };
        s.snapshot();
        s
    }

    /// Starts a session on a fixture.
    pub fn fixture(name: &str, mask: MaskFn) -> Session {
        Session::start(Dom::fixture(name), mask)
    }

    /// The page meta now.
    pub fn meta(&self) -> PageMeta {
        meta_of(&self.dom, &self.url)
    }

    /// Walks the whole page, sends a snapshot and applies it to the mirror.
    pub fn snapshot(&mut self) -> String {
        let batch = self.walker.snapshot(&mut self.dom);
        self.rec.add_names(&batch.names);
        let meta = self.meta();
        let json = self
            .rec
            .snapshot(batch.flat(), &meta)
            .unwrap_or_else(|e| panic!("snapshot failed: {e}"));
        let snap = parse_snap(&json);
        self.mirror
            .apply_snapshot(&snap)
            .unwrap_or_else(|e| panic!("mirror refused the snapshot: {e}"));
        self.batches.push(batch);
        self.messages.push(json.clone());
        json
    }

    /// Sends the pending mutations as a diff (if any) and applies it to the mirror.
    pub fn try_flush(&mut self) -> Result<Option<String>, CaptureError> {
        let batch = self.walker.mutations(&mut self.dom);
        self.rec.add_names(&batch.names);
        let res = self.rec.diff(batch.flat());
        self.batches.push(batch);
        let Some(json) = res? else {
            return Ok(None);
        };
        let diff = parse_diff(&json);
        self.mirror
            .apply_diff(&diff)
            .unwrap_or_else(|e| panic!("mirror refused a diff: {e}\n{json}"));
        self.messages.push(json.clone());
        Ok(Some(json))
    }

    /// [`Session::try_flush`], failing the test on an error.
    pub fn flush(&mut self) -> Option<String> {
        self.try_flush()
            .unwrap_or_else(|e| panic!("diff failed: {e}"))
    }

    /// Asserts the mirror equals the expected view of the page.
    pub fn check(&self) {
        if self.attr_order_matters {
            assert_mirror_matches(&self.mirror, &self.dom, &self.walker, &self.meta().base);
        } else {
            compare::assert_records_eq(
                &compare::sorted_attrs(&self.mirror.records()),
                &compare::sorted_attrs(&compare::expected_records(
                    &self.dom,
                    &self.walker,
                    &self.meta().base,
                )),
                "mirror vs expected view (any attribute order)",
            );
        }
    }

    /// The mirror a brand-new engine (new walker state, new recorder) would build from a
    /// snapshot of the current page. Gids and `data-gid` stay as they are in the page.
    pub fn fresh_records(&mut self) -> Vec<NodeRecord> {
        let mut w = Walker::new(self.walker.mask.clone());
        w.ever_password = self.walker.ever_password.clone();
        let batch = w.snapshot(&mut self.dom);
        let mut rec = Recorder::new("p-fresh");
        rec.add_names(&batch.names);
        let json = rec
            .snapshot(batch.flat(), &self.meta())
            .unwrap_or_else(|e| panic!("fresh snapshot failed: {e}"));
        let mut m = Mirror::new();
        m.apply_snapshot(&parse_snap(&json))
            .unwrap_or_else(|e| panic!("mirror refused the fresh snapshot: {e}"));
        m.records()
    }

    /// Every message sent so far, joined (for leak scans).
    pub fn transcript(&self) -> String {
        self.messages.join("\n")
    }

    /// Every string that crossed into the engine so far (flat batches), joined.
    pub fn inputs(&self) -> String {
        self.batches
            .iter()
            .map(|b| b.strs.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Parses any visitor message, failing the test when it is not valid.
pub fn parse(json: &str) -> VisitorMsg {
    glance_cobrowse::protocol::parse_visitor(json)
        .unwrap_or_else(|e| panic!("invalid message: {e}\n{json}"))
}
