//! Remote control, the visitor's side, as pure logic: the consent state machine (an agent asks,
//! the visitor accepts or declines, either side stops it, a new page continues it), the checks
//! that decide whether an agent's action may be applied (and why not), and the reading of an
//! agent's navigation target. The browser edge (`web::engine`, `web/control.js`) gathers the
//! facts and applies what this module allows.

/// Where remote control stands on this page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RcState {
    /// Not enabled, nothing asked.
    #[default]
    Off,
    /// An agent asked; the visitor has not answered yet.
    Asking,
    /// The visitor accepted: agents' actions are applied.
    On,
}

/// What a transition asks the edge to do (events to emit, lines to send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcStep {
    /// Nothing changes.
    Nothing,
    /// Send `rc` `requested`, emit `rcrequested`.
    Ask,
    /// Send `rc` `accepted`, emit `rcaccepted` then `rcenabled` `{enabled:true}`.
    Accepted,
    /// Send `rc` `declined`, emit `rcdeclined`.
    Declined,
    /// Emit `rcenabled` `{enabled:true}` (a new page of an enabled session).
    Enabled,
    /// Emit `rcenabled` `{enabled:false}`; send `rc` `off` when `tell` (the visitor stopped it).
    Disabled {
        /// The server must be told (the visitor revoked it).
        tell: bool,
    },
    /// A pending request was withdrawn by the agent: the question is void (send nothing).
    Withdrawn,
    /// Already on when asked again: send `rc` `accepted` again so every side agrees.
    Reaffirm,
}

/// The remote-control consent state machine of one page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemoteControl {
    state: RcState,
}

impl RemoteControl {
    /// The current state.
    pub fn state(&self) -> RcState {
        self.state
    }

    /// True while agents' actions may be applied.
    pub fn enabled(&self) -> bool {
        self.state == RcState::On
    }

    /// An agent asks for control (`rc` `on:true`).
    pub fn request(&mut self) -> RcStep {
        match self.state {
            RcState::Off => {
                self.state = RcState::Asking;
                RcStep::Ask
            }
            RcState::Asking => RcStep::Nothing,
            RcState::On => RcStep::Reaffirm,
        }
    }

    /// The visitor's answer (each `accept`/`decline` callback; stale ones change nothing).
    pub fn answer(&mut self, accept: bool) -> RcStep {
        if self.state != RcState::Asking {
            return RcStep::Nothing;
        }
        if accept {
            self.state = RcState::On;
            RcStep::Accepted
        } else {
            self.state = RcState::Off;
            RcStep::Declined
        }
    }

    /// An agent stops control (`rc` `on:false`).
    pub fn agent_stop(&mut self) -> RcStep {
        let was = core::mem::take(&mut self.state);
        match was {
            RcState::Off => RcStep::Nothing,
            RcState::Asking => RcStep::Withdrawn,
            RcState::On => RcStep::Disabled { tell: false },
        }
    }

    /// The visitor revokes control (`disableRC()`); a pending question counts as declined.
    pub fn revoke(&mut self) -> RcStep {
        let was = core::mem::take(&mut self.state);
        match was {
            RcState::Off => RcStep::Nothing,
            RcState::Asking => RcStep::Declined,
            RcState::On => RcStep::Disabled { tell: true },
        }
    }

    /// A welcome said whether the session has control enabled (every page load and reconnect).
    pub fn welcome(&mut self, rc: bool) -> RcStep {
        match (rc, self.state) {
            (true, RcState::On) => RcStep::Nothing,
            (true, _) => {
                self.state = RcState::On;
                RcStep::Enabled
            }
            (false, RcState::On) => {
                self.state = RcState::Off;
                RcStep::Disabled { tell: false }
            }
            (false, _) => RcStep::Nothing,
        }
    }

    /// The session ended: control is off; true when `rcenabled` `{enabled:false}` is due.
    pub fn end(&mut self) -> bool {
        core::mem::take(&mut self.state) == RcState::On
    }
}

/// Why an action was refused (the `reason` of an `actres`/`navres`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such element, or it left the page.
    Missing,
    /// The element or an ancestor is masked.
    Masked,
    /// A password field (also one that was ever a password field).
    Password,
    /// A `javascript:` link or form action.
    Javascript,
    /// Remote control is not enabled.
    NotEnabled,
    /// A disabled (or read-only) control.
    Disabled,
    /// An action that makes no sense for the element, or a bad value.
    Invalid,
    /// The visitor declined (navigation confirm).
    Declined,
}

impl Refusal {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Masked => "masked",
            Refusal::Password => "password",
            Refusal::Javascript => "javascript",
            Refusal::NotEnabled => "notenabled",
            Refusal::Disabled => "disabled",
            Refusal::Invalid => "invalid",
            Refusal::Declined => "declined",
        }
    }
}

/// An agent action kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActKind {
    /// Click at a point of the element.
    Click,
    /// The field's whole new value.
    Type,
    /// The field lost focus after editing.
    Change,
    /// Enter, Tab or Escape in a field.
    Key,
}

impl ActKind {
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<ActKind> {
        Some(match s {
            "click" => ActKind::Click,
            "type" => ActKind::Type,
            "change" => ActKind::Change,
            "key" => ActKind::Key,
            _ => return None,
        })
    }

    /// The name `control.js` knows it by.
    pub fn as_str(self) -> &'static str {
        match self {
            ActKind::Click => "click",
            ActKind::Type => "type",
            ActKind::Change => "change",
            ActKind::Key => "key",
        }
    }
}

/// The keys an agent may press.
pub fn allowed_key(key: &str) -> bool {
    matches!(key, "Enter" | "Tab" | "Escape")
}

/// What the page says about an action's target (gathered by `control.js` `inspect`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The element exists and is on the page.
    pub found: bool,
    /// It or an ancestor matches the mask selectors.
    pub masked: bool,
    /// A password field now or ever.
    pub password: bool,
    /// A disabled control (or inside a disabled fieldset).
    pub disabled: bool,
    /// A read-only text field.
    pub readonly: bool,
    /// Its kind: `text` (input/textarea taking text), `select`, `toggle` (checkbox/radio),
    /// `other`.
    pub kind: &'static str,
    /// Links a click would follow (`href` of `<a>`/`<area>` around it) and form actions a
    /// click or Enter would submit to (`action`, the button's `formaction`), raw.
    pub urls: alloc::vec::Vec<alloc::string::String>,
}

/// Whether `kind` is applied to `t`, else why not. Checked in this order: the element, the
/// privacy refusals (password, masked), the script refusal, then the control's own state.
pub fn check_action(
    kind: ActKind,
    t: &Target,
    value: Option<&str>,
    key: Option<&str>,
) -> Result<(), Refusal> {
    if !t.found {
        return Err(Refusal::Missing);
    }
    if t.password {
        return Err(Refusal::Password);
    }
    if t.masked {
        return Err(Refusal::Masked);
    }
    if matches!(kind, ActKind::Click | ActKind::Key) && t.urls.iter().any(|u| is_javascript_url(u))
    {
        return Err(Refusal::Javascript);
    }
    match kind {
        ActKind::Click => {
            if t.disabled {
                return Err(Refusal::Disabled);
            }
        }
        ActKind::Type => {
            if !matches!(t.kind, "text" | "select") || value.is_none() {
                return Err(Refusal::Invalid);
            }
            if t.disabled || t.readonly {
                return Err(Refusal::Disabled);
            }
        }
        ActKind::Change => {
            if !matches!(t.kind, "text" | "select") {
                return Err(Refusal::Invalid);
            }
        }
        ActKind::Key => {
            if !key.is_some_and(allowed_key) {
                return Err(Refusal::Invalid);
            }
            if t.disabled {
                return Err(Refusal::Disabled);
            }
        }
    }
    Ok(())
}

/// True when `raw` (an `href` or form `action` as written) is a `javascript:` URL once parsed:
/// leading and trailing C0 controls and spaces are stripped, tabs and newlines anywhere are
/// removed, and the scheme is compared without case (the URL standard's parsing).
pub fn is_javascript_url(raw: &str) -> bool {
    // Leading controls and spaces skipped; the scheme comes before any trailing ones.
    let start = raw.bytes().position(|b| b > b' ').unwrap_or(raw.len());
    let mut scheme = raw.as_bytes()[start..]
        .iter()
        .filter(|b| !matches!(b, b'\t' | b'\n' | b'\r'));
    b"javascript:"
        .iter()
        .all(|want| scheme.next().is_some_and(|c| c.eq_ignore_ascii_case(want)))
}

/// An agent's navigation target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NavTarget<'a> {
    /// `history.back()`.
    Back,
    /// `history.forward()`.
    Forward,
    /// `location.reload()`.
    Refresh,
    /// A URL, relative to the page or absolute.
    Url(&'a str),
}

impl<'a> NavTarget<'a> {
    /// Reads the `url` of a `nav` frame.
    pub fn parse(url: &'a str) -> NavTarget<'a> {
        match url {
            "back" => NavTarget::Back,
            "forward" => NavTarget::Forward,
            "refresh" => NavTarget::Refresh,
            u => NavTarget::Url(u),
        }
    }

    /// The `action` of a `navigation` event (`None` for a URL).
    pub fn action(self) -> Option<&'static str> {
        match self {
            NavTarget::Back => Some("back"),
            NavTarget::Forward => Some("forward"),
            NavTarget::Refresh => Some("refresh"),
            NavTarget::Url(_) => None,
        }
    }
}

/// True for a resolved (absolute) URL an agent may send the visitor to: http or https only.
pub fn navigable(resolved: &str) -> bool {
    let b = resolved.as_bytes();
    let starts = |p: &[u8]| b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p);
    starts(b"http://") || starts(b"https://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn consent_flow_accept_then_agent_stops() {
        let mut rc = RemoteControl::default();
        assert_eq!(rc.request(), RcStep::Ask);
        assert_eq!(rc.request(), RcStep::Nothing, "asked once");
        assert!(!rc.enabled());
        assert_eq!(rc.answer(true), RcStep::Accepted);
        assert!(rc.enabled());
        assert_eq!(rc.answer(false), RcStep::Nothing, "a callback works once");
        assert!(rc.enabled());
        assert_eq!(rc.request(), RcStep::Reaffirm);
        assert_eq!(rc.agent_stop(), RcStep::Disabled { tell: false });
        assert_eq!(rc.state(), RcState::Off);
        assert_eq!(rc.agent_stop(), RcStep::Nothing);
    }

    #[test]
    fn decline_revoke_withdraw() {
        let mut rc = RemoteControl::default();
        rc.request();
        assert_eq!(rc.answer(false), RcStep::Declined);
        assert_eq!(
            rc.answer(true),
            RcStep::Nothing,
            "stale accept after decline"
        );
        assert!(!rc.enabled());
        rc.request();
        assert_eq!(rc.agent_stop(), RcStep::Withdrawn);
        assert_eq!(rc.answer(true), RcStep::Nothing, "withdrawn question");
        rc.request();
        rc.answer(true);
        assert_eq!(rc.revoke(), RcStep::Disabled { tell: true });
        assert_eq!(rc.revoke(), RcStep::Nothing);
        rc.request();
        assert_eq!(
            rc.revoke(),
            RcStep::Declined,
            "revoking while asked declines"
        );
    }

    #[test]
    fn welcome_continues_and_end_resets() {
        let mut rc = RemoteControl::default();
        assert_eq!(rc.welcome(false), RcStep::Nothing);
        assert_eq!(rc.welcome(true), RcStep::Enabled);
        assert_eq!(
            rc.welcome(true),
            RcStep::Nothing,
            "a reconnect says nothing new"
        );
        assert_eq!(rc.welcome(false), RcStep::Disabled { tell: false });
        rc.welcome(true);
        assert!(rc.end());
        assert!(!rc.end());
        assert!(!rc.enabled());
    }

    #[test]
    fn javascript_urls_as_the_url_parser_reads_them() {
        for js in [
            "javascript:alert(1)",
            "JavaScript:void(0)",
            "  javascript:x",
            "\u{1}javascript:x",
            "java\tscript:x",
            "jav\nascript:x",
            "javascript\r:x",
            "JAVASCRIPT:",
        ] {
            assert!(is_javascript_url(js), "{js:?}");
        }
        for ok in [
            "",
            "javascript",
            "/javascript:x",
            "./javascript:x",
            "https://e.test/javascript:x",
            "javascripts:x",
            "vbscript:x",
            "#javascript:",
            "java script:x",
        ] {
            assert!(!is_javascript_url(ok), "{ok:?}");
        }
    }

    fn target(kind: &'static str) -> Target {
        Target {
            found: true,
            kind,
            ..Default::default()
        }
    }

    #[test]
    fn action_refusals_in_order() {
        let t = Target::default();
        assert_eq!(
            check_action(ActKind::Click, &t, None, None),
            Err(Refusal::Missing)
        );
        let mut t = target("text");
        t.password = true;
        t.masked = true;
        assert_eq!(
            check_action(ActKind::Type, &t, Some("x"), None),
            Err(Refusal::Password)
        );
        t.password = false;
        assert_eq!(
            check_action(ActKind::Click, &t, None, None),
            Err(Refusal::Masked)
        );
        let mut t = target("other");
        t.urls = vec![
            "https://ok.test/".to_string(),
            " javascript:steal()".to_string(),
        ];
        assert_eq!(
            check_action(ActKind::Click, &t, None, None),
            Err(Refusal::Javascript)
        );
        assert_eq!(
            check_action(ActKind::Key, &t, None, Some("Enter")),
            Err(Refusal::Javascript)
        );
        t.urls.pop();
        assert_eq!(check_action(ActKind::Click, &t, None, None), Ok(()));
        t.disabled = true;
        assert_eq!(
            check_action(ActKind::Click, &t, None, None),
            Err(Refusal::Disabled)
        );
    }

    #[test]
    fn typing_needs_a_text_field_and_a_value() {
        let t = target("text");
        assert_eq!(check_action(ActKind::Type, &t, Some("abc"), None), Ok(()));
        assert_eq!(
            check_action(ActKind::Type, &t, None, None),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            check_action(ActKind::Type, &target("toggle"), Some("x"), None),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            check_action(ActKind::Type, &target("select"), Some("b"), None),
            Ok(())
        );
        let mut ro = target("text");
        ro.readonly = true;
        assert_eq!(
            check_action(ActKind::Type, &ro, Some("x"), None),
            Err(Refusal::Disabled)
        );
        assert_eq!(
            check_action(ActKind::Change, &target("other"), None, None),
            Err(Refusal::Invalid)
        );
        assert_eq!(check_action(ActKind::Key, &t, None, Some("Enter")), Ok(()));
        assert_eq!(
            check_action(ActKind::Key, &t, None, Some("a")),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            check_action(ActKind::Key, &t, None, None),
            Err(Refusal::Invalid)
        );
        assert_eq!(ActKind::parse("type"), Some(ActKind::Type));
        assert_eq!(ActKind::parse("drag"), None);
        assert_eq!(Refusal::NotEnabled.as_str(), "notenabled");
    }

    #[test]
    fn navigation_targets() {
        assert_eq!(NavTarget::parse("back").action(), Some("back"));
        assert_eq!(NavTarget::parse("forward"), NavTarget::Forward);
        assert_eq!(NavTarget::parse("refresh"), NavTarget::Refresh);
        assert_eq!(NavTarget::parse("page2.html"), NavTarget::Url("page2.html"));
        assert!(navigable("https://shop.test/a"));
        assert!(navigable("HTTP://shop.test/"));
        assert!(!navigable("javascript:alert(1)"));
        assert!(!navigable("data:text/html,x"));
        assert!(!navigable("http:"));
        assert!(!navigable(""));
    }
}
