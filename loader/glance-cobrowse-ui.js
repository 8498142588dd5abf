/* Glance Cobrowse default visitor UI (shipped as GlanceCobrowseUI.js, an ES module). The loader
 * imports it on first need (a session starts or continues, a question arrives, showTerms or
 * promptCrossDomain is called) unless the tag says data-ui="custom", and calls `mount(ctx)`.
 *
 * Isolation: one host element appended to <html> (position:fixed, zero size: no layout shift),
 * marked with the engine's hideNode before it is attached (the agent's mirror never shows it and
 * its changes are never diffs), an open shadow root holding everything (ids as documented), the
 * skin CSS applied inside that root only. Defines no global; nothing thrown here reaches the page
 * (the loader catches around every call, and every handler here catches).
 *
 * Skins and texts (skins/README.md): <skins>/default.css, then <skins>/groups/<group>/<site>/skin.css;
 * texts.en.json <- texts.<base>.json <- texts.<lang>.json, then the group's files for the same
 * languages. A missing or broken file is a console warning at most.
 *
 * The pure helpers (pickLang, langChain, mergeTexts, fill, describe) are exported for tests. */

const HOST_TAG = 'glance-cobrowse-ui';
// Structural rules the UI needs even without a skin; the skin comes after them.
const BASE_CSS = ':host{all:initial!important;position:fixed!important;top:0!important;left:0!important;' +
  'width:0!important;height:0!important;overflow:visible!important;z-index:2147483647!important;display:block!important}' +
  '[hidden]{display:none!important}.glance_sr{position:absolute!important;width:1px;height:1px;overflow:hidden;' +
  'clip:rect(0 0 0 0);clip-path:inset(50%);white-space:nowrap}' +
  // A usable layout even when default.css cannot be loaded (the skin overrides all of it).
  ':where(#glance_ui){font:15px/1.4 sans-serif;color:#111}:where(#glance_border){position:fixed;inset:0;border:4px solid #f28c28;pointer-events:none}' +
  ':where(#glance_cobrowse_btn){position:fixed;right:16px;bottom:16px;min-height:44px}' +
  ':where(#glance_ssnkey_box,.glance_dialog){background:#fff;color:#111;padding:16px;border:1px solid #555;width:300px;max-width:calc(100vw - 32px)}' +
  ':where(#glance_ssnkey_box){position:fixed;right:16px;bottom:72px}:where(#glance_ssnkey){font-size:28px;font-weight:700}' +
  ':where(.glance_overlay){position:fixed;inset:0;display:flex;align-items:center;justify-content:center;background:#0008}' +
  ':where(button){min-height:44px;min-width:44px;margin:4px}';
const LANG_RE = /^[a-z]{2,3}(-[a-z0-9]{2,8})*$/;
// Elements whose text is never read out (code, hidden content).
const SKIP_TEXT = /^(script|style|noscript|template|svg|math)$/;

/** The UI language: data-lang, else <html lang>, else navigator.language, else "en" (lower case). */
export function pickLang(dataLang, htmlLang, navLang) {
  for (const l of [dataLang, htmlLang, navLang]) {
    const v = String(l || '').trim().toLowerCase().replace(/_/g, '-');
    if (LANG_RE.test(v)) return v;
  }
  return 'en';
}

/** Languages whose texts files are merged, weakest first: ["en", base, lang] without repeats. */
export function langChain(lang) {
  const out = ['en'];
  const base = lang.split('-')[0];
  if (!out.includes(base)) out.push(base);
  if (!out.includes(lang)) out.push(lang);
  return out;
}

/** Merges texts objects in order; only string values of plain objects count. */
export function mergeTexts(...layers) {
  const out = {};
  for (const l of layers) {
    if (!l || typeof l != 'object' || Array.isArray(l)) continue;
    for (const k of Object.keys(l)) if (typeof l[k] == 'string') out[k] = l[k];
  }
  return out;
}

/** Fills `{name}` placeholders; unknown ones stay as they are. */
export function fill(t, vars) {
  return String(t == null ? '' : t).replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] != null ? String(vars[k]) : m));
}

/**
 * A short description of element `el` for an announcement: its accessible name (aria-label,
 * aria-labelledby, a field's label, alt, title) or its visible text, never the value of a field
 * and never the text of a masked element (`masked(el)` true: nothing is said). At most 120 chars.
 */
export function describe(el, masked) {
  if (!el || el.nodeType !== 1 || masked(el)) return '';
  const doc = el.ownerDocument;
  const clean = (s) => String(s || '').replace(/\s+/g, ' ').trim();
  const textOf = (n, depth) => {
    if (depth > 32) return '';
    let t = '';
    for (let c = n.firstChild; c; c = c.nextSibling) {
      if (c.nodeType === 3) t += c.data;
      else if (c.nodeType === 1 && !SKIP_TEXT.test(c.localName) && !masked(c) && !/^(input|textarea|select)$/.test(c.localName)) {
        t += ' ' + textOf(c, depth + 1) + ' ';
      }
      if (t.length > 400) break;
    }
    return t;
  };
  let name = clean(el.getAttribute('aria-label'));
  const lb = el.getAttribute('aria-labelledby');
  if (!name && lb && doc) {
    name = clean(lb.split(/\s+/).map((id) => {
      const l = doc.getElementById(id);
      return l && !masked(l) ? textOf(l, 0) : '';
    }).join(' '));
  }
  if (!name && el.labels && el.labels.length) name = clean(Array.from(el.labels).filter((l) => !masked(l)).map((l) => textOf(l, 0)).join(' '));
  if (!name) name = clean(el.getAttribute('alt'));
  if (!name && !/^(input|textarea|select)$/.test(el.localName)) name = clean(textOf(el, 0));
  if (!name) name = clean(el.getAttribute('title') || el.getAttribute('placeholder'));
  return name.length > 120 ? name.slice(0, 119) + '\u2026' : name;
}

/** Mounts the UI; returns the loader's handle {event, showTerms, promptCrossDomain}. */
export function mount(ctx) {
  const { win, cfg, Visitor: V } = ctx;
  const doc = win.document, con = win.console;
  const warn = (m) => { try { con.warn('GLANCE Cobrowse UI: ' + m); } catch (_) { /* */ } };
  const lang = pickLang(cfg.lang, doc.documentElement && doc.documentElement.getAttribute('lang'), win.navigator && win.navigator.language);
  const group = String(cfg.groupid || '').replace(/[^\w.-]/g, '_');
  const site = cfg.site === 'staging' ? 'staging' : 'production';
  const groupBase = ctx.skins + 'groups/' + encodeURIComponent(group) + '/' + site + '/';

  // ---- resources: texts and CSS (missing or broken: a warning, the defaults) ----
  const get = (url, json) => Promise.resolve().then(() => win.fetch(url, { credentials: 'omit' })).then((r) => {
    if (!r.ok) throw new Error('HTTP ' + r.status);
    return json ? r.json() : r.text();
  }).catch((e) => { warn(url + ' not used (' + (e && e.message || e) + ')'); return null; });
  const chain = langChain(lang);
  const textsP = Promise.all(chain.map((l) => get(ctx.skins + 'texts.' + l + '.json', true))
    .concat(chain.map((l) => get(groupBase + 'texts.' + l + '.json', true))))
    .then((all) => mergeTexts(...all));
  const cssP = Promise.all([get(ctx.skins + 'default.css', false), get(groupBase + 'skin.css', false)]);

  let T = {};
  const t = (k, vars) => fill(T[k] != null ? T[k] : k, vars);

  // ---- state ----
  const S = { phase: 'idle', key: '', paused: false, conn: 'ok', agents: [], rc: false, rcName: '',
    expanded: true, confirmStop: false, a11y: false, error: '' };
  let shown = false; // the host is in the document
  let quiet = false; // restoring a continuing session's state: no announcements
  // Whether the box is open, kept for the next page of the session (this tab only).
  const stored = () => { try { return win.sessionStorage.getItem('glance_ui_box'); } catch (_) { return null; } };
  const store = (open) => { try { win.sessionStorage.setItem('glance_ui_box', open ? '1' : '0'); } catch (_) { /* */ } };
  let root = null, E = {};
  const dialogs = []; // [{kind, el, answer(ok), restore}] first one shown

  const host = doc.createElement(HOST_TAG);
  // Marked before it is attached: the loader marks it at once when the wasm is in, else as soon
  // as it arrives (before the engine, so before any capture); the returned promise says when.
  const marked = ctx.hide(host);
  // Calls made before the texts and skin are in wait for them (in order).
  let isReady = false;
  const later = [];
  const run = (f) => { if (isReady) f(); else later.push(f); };
  const ready = Promise.all([textsP, cssP]).then(([texts, css]) => {
    T = texts;
    build(css);
    return marked;
  }).then(() => {
    try { doc.documentElement.appendChild(host); shown = true; } catch (e) { warn('could not attach: ' + e); }
    isReady = true;
    for (const f of later.splice(0)) { try { f(); } catch (e) { warn('failed: ' + (e && e.message || e)); } }
    render();
    showDialog();
  }).catch((e) => warn('failed: ' + (e && e.message || e)));

  function el(tag, attrs, kids) {
    const e = doc.createElement(tag);
    for (const k in attrs || {}) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'on') e.addEventListener('click', guard(attrs.on));
      else e.setAttribute(k, attrs[k]);
    }
    for (const c of kids || []) e.appendChild(c);
    return e;
  }
  function guard(f) {
    return (ev) => { try { f(ev); } catch (e) { warn('handler failed: ' + (e && e.message || e)); } };
  }

  function build(css) {
    root = host.attachShadow({ mode: 'open' });
    const sheets = [BASE_CSS].concat(css.filter((c) => c != null));
    let adopted = false;
    try {
      if (win.CSSStyleSheet && 'adoptedStyleSheets' in root) {
        root.adoptedStyleSheets = sheets.map((txt) => { const s = new win.CSSStyleSheet(); s.replaceSync(txt); return s; });
        adopted = true;
      }
    } catch (_) { adopted = false; }
    if (!adopted) for (const txt of sheets) root.appendChild(el('style', { text: txt }));

    E.border = el('div', { id: 'glance_border', 'aria-hidden': 'true' });
    E.btnLabel = el('span', { class: 'glance_btn_label', text: t('buttonLabel') });
    E.btn = el('button', { id: 'glance_cobrowse_btn', type: 'button', 'aria-controls': 'glance_ssnkey_box', 'aria-expanded': 'true',
      on: () => { S.expanded = !S.expanded; S.confirmStop = false; store(S.expanded); render(); } },
    [el('span', { class: 'glance_btn_dot', 'aria-hidden': 'true' }), E.btnLabel]);
    E.key = el('div', { id: 'glance_ssnkey' });
    E.status = el('p', { class: 'glance_status', id: 'glance_status' });
    E.warn = el('p', { id: 'glance_connection_warning', role: 'status', text: t('connectionWarning') });
    E.rcText = el('p', { class: 'glance_rc_text' });
    E.rc = el('div', { id: 'glance_rc_status', class: 'glance_rc' },
      [E.rcText, el('button', { id: 'glance_rc_stop', type: 'button', class: 'glance_secondary', text: t('stopRemoteControl'), on: () => V.disableRC() })]);
    E.pause = el('button', { id: 'glance_pause', type: 'button', class: 'glance_secondary', 'aria-pressed': 'false',
      on: () => V.pause(!S.paused) });
    E.stop = el('button', { id: 'glance_stop', type: 'button', text: t('endSession'),
      on: () => { S.confirmStop = true; render(); focus(E.stopNo); } });
    E.stopNo = el('button', { id: 'glance_stop_no', type: 'button', class: 'glance_secondary', text: t('no'),
      on: () => { S.confirmStop = false; render(); focus(E.stop); } });
    E.stopYes = el('button', { id: 'glance_stop_yes', type: 'button', class: 'glance_danger', text: t('yes'),
      on: () => { S.confirmStop = false; V.stopSession(); render(); } });
    E.actions = el('div', { class: 'glance_actions' }, [E.pause, E.stop]);
    E.confirm = el('div', { id: 'glance_stop_confirm', class: 'glance_stop_confirm', role: 'group', 'aria-labelledby': 'glance_stop_q' },
      [el('p', { id: 'glance_stop_q', text: t('confirmEndSession') }), el('div', { class: 'glance_actions' }, [E.stopNo, E.stopYes])]);
    E.error = el('p', { id: 'glance_error', role: 'alert' });
    E.keyLabel = el('div', { class: 'glance_ssnkey_label', id: 'glance_ssnkey_label', text: t('sessionKeyLabel') });
    E.box = el('section', { id: 'glance_ssnkey_box', 'aria-labelledby': 'glance_box_title' }, [
      el('h2', { id: 'glance_box_title', class: 'glance_title', text: t('boxTitle') }),
      E.keyLabel, E.key,
      el('p', { class: 'glance_hint', text: t('sessionKeyHint') }),
      E.status, E.warn, E.rc, E.error, E.actions, E.confirm]);
    E.live = el('div', { id: 'glance_live', class: 'glance_sr', 'aria-live': 'polite', 'aria-atomic': 'true' });
    E.overlay = el('div', { class: 'glance_overlay', hidden: '' });
    E.ui = el('div', { id: 'glance_ui', 'data-glance-state': 'idle', lang }, [E.border, E.box, E.btn, E.overlay, E.live]);
    root.appendChild(E.ui);
    // A modal dialog keeps the focus: focus moving to the page goes back into the dialog.
    doc.addEventListener('focusin', guard((ev) => {
      if (dialogs.length && shown && ev.target !== host) focusFirst(dialogs[0].el);
    }), true);
  }

  function focus(e) { try { e.focus({ preventScroll: true }); } catch (_) { /* */ } }
  const focusables = (d) => Array.from(d.querySelectorAll('button:not([disabled]):not([hidden])'));
  function focusFirst(d) { const f = focusables(d); focus(f[0] || d); }

  // ---- rendering ----
  function agentNames() { return S.agents.map((a) => a && (a.name || a.username)).filter(Boolean).join(', '); }
  function render() {
    if (!root) return;
    const inSession = S.phase !== 'idle';
    const state = !inSession ? 'idle' : S.phase === 'starting' ? 'starting' : S.conn === 'reconnecting' ? 'reconnecting' : S.paused ? 'paused' : 'active';
    E.ui.setAttribute('data-glance-state', state);
    E.ui.setAttribute('data-glance-rc', S.rc ? 'on' : 'off');
    E.border.hidden = !inSession || S.phase === 'starting';
    E.btn.hidden = !inSession;
    E.btn.setAttribute('aria-expanded', String(S.expanded));
    E.btnLabel.textContent = S.rc ? t('buttonLabelRc') : S.paused ? t('buttonLabelPaused') : t('buttonLabel');
    E.box.hidden = !((inSession && S.expanded) || S.error);
    E.key.textContent = S.key || '';
    E.key.hidden = E.keyLabel.hidden = !S.key;
    E.key.setAttribute('aria-label', S.key.split('').join(' '));
    E.status.textContent = S.phase === 'starting' ? t('sessionStarting') : !inSession ? ''
      : S.paused ? t('sessionPaused') : S.agents.length ? t('agentsViewing', { names: agentNames(), count: S.agents.length }) : t('waitingForAgent');
    E.warn.hidden = !(inSession && S.conn === 'reconnecting');
    E.rc.hidden = !(inSession && S.rc);
    E.rcText.textContent = t('remoteControlOn', { name: S.rcName || t('theAgent') });
    E.pause.textContent = S.paused ? t('resumeSession') : t('pauseSession');
    E.pause.setAttribute('aria-pressed', String(S.paused));
    E.pause.hidden = S.phase !== 'active';
    E.actions.hidden = !inSession || S.confirmStop;
    E.confirm.hidden = !(inSession && S.confirmStop);
    E.error.textContent = S.error;
    E.error.hidden = !S.error;
  }

  // The live region: cleared, then set, so a repeated message is spoken again.
  let sayTimer = 0;
  function say(m) {
    if (!m || !root || quiet) return;
    E.live.textContent = '';
    clearTimeout(sayTimer);
    sayTimer = setTimeout(() => { E.live.textContent = m; }, 60);
  }

  // ---- dialogs: one shown at a time, the others wait ----
  function dialog(kind, ids, texts, onYes, onNo) {
    for (const d of dialogs) if (d.kind === kind) close(d, null); // a newer question replaces it
    const d = { kind, restore: null };
    const title = el('h2', { id: ids.dialog + '_title', text: texts.title });
    const desc = el('p', { id: ids.dialog + '_desc', text: texts.text });
    const no = el('button', { id: ids.no, type: 'button', class: 'glance_secondary', text: texts.no, on: () => close(d, false) });
    const yes = el('button', { id: ids.yes, type: 'button', class: 'glance_primary', text: texts.yes, on: () => close(d, true) });
    d.el = el('div', { id: ids.dialog, class: 'glance_dialog', role: 'dialog', 'aria-modal': 'true', tabindex: '-1',
      'aria-labelledby': title.id, 'aria-describedby': desc.id }, [title, desc, el('div', { class: 'glance_dialog_buttons' }, [no, yes])]);
    d.el.addEventListener('keydown', guard((ev) => {
      if (ev.key === 'Escape') { ev.preventDefault(); ev.stopPropagation(); close(d, false); return; }
      if (ev.key !== 'Tab') return;
      const f = focusables(d.el), cur = root.activeElement, i = f.indexOf(cur);
      if (!f.length) return;
      if (ev.shiftKey && i <= 0) { ev.preventDefault(); focus(f[f.length - 1]); }
      else if (!ev.shiftKey && (i === f.length - 1 || i < 0)) { ev.preventDefault(); focus(f[0]); }
    }));
    // `onYes` runs inside the click (cross-domain opens its popup there), before the dialog closes.
    d.answer = (ok) => { try { (ok ? onYes : onNo)(); } catch (e) { warn('answer failed: ' + (e && e.message || e)); } };
    dialogs.push(d);
    showDialog();
    return d;
  }
  function showDialog() {
    if (!root || !shown || !dialogs.length) return;
    const d = dialogs[0];
    if (d.el.parentNode) return;
    const a = doc.activeElement;
    d.restore = a === host ? root.activeElement : a;
    E.overlay.replaceChildren(d.el);
    E.overlay.hidden = false;
    focusFirst(d.el);
  }
  // Closes `d`; ok true/false answers it, null drops it unanswered (withdrawn).
  function close(d, ok) {
    const i = dialogs.indexOf(d);
    if (i < 0) return;
    dialogs.splice(i, 1);
    const wasShown = !!d.el.parentNode;
    if (wasShown) { d.el.remove(); E.overlay.hidden = true; }
    if (ok !== null) d.answer(ok);
    if (dialogs.length) showDialog();
    else if (wasShown && d.restore && d.restore.isConnected) focus(d.restore);
  }
  function closeKinds(re) { for (const d of dialogs.slice()) if (re.test(d.kind)) close(d, null); }
  function ask(kind, p, pre, onYes, onNo) {
    const who = (p && p.agent && (p.agent.name || p.agent.username)) || t('theAgent');
    const v = { name: who, url: p && p.url != null ? String(p.url) : '' };
    return dialog(kind, { dialog: 'glance_' + kind, yes: 'glance_' + kind + '_' + pre[0], no: 'glance_' + kind + '_' + pre[1] },
      { title: t(kind + 'Title', v), text: t(kind + 'Text', v), yes: t(kind + 'Yes', v), no: t(kind + 'No', v) }, onYes, onNo);
  }

  // ---- events ----
  function event(name, p, pageListens) {
    p = p || {};
    switch (name) {
      case 'sessionstarting':
        S.phase = 'starting'; S.error = ''; S.expanded = true; say(t('sessionStarting')); break;
      case 'sessionstart':
        S.phase = 'active'; S.key = String(p.sessionKey || ''); S.expanded = true; S.error = ''; store(true);
        say(t('sessionStarted', { key: S.key.split('').join(' ') })); break;
      case 'sessioncontinue':
        if (S.phase !== 'active') {
          // A new page of a running session: its state (agents, remote control) is restored, not news.
          S.phase = 'active'; S.key = String(p.sessionKey || ''); S.error = '';
          S.expanded = stored() !== '0';
          quiet = true;
          setTimeout(() => { quiet = false; }, 1500);
        }
        break;
      case 'agents': {
        const list = Array.isArray(p.agentlist) ? p.agentlist : [];
        const before = new Set(S.agents.map((a) => a && (a.username || a.name)));
        const after = new Set(list.map((a) => a && (a.username || a.name)));
        for (const a of list) if (a && !before.has(a.username || a.name)) say(t('agentJoined', { name: a.name || a.username }));
        for (const a of S.agents) if (a && !after.has(a.username || a.name)) say(t('agentLeft', { name: a.name || a.username }));
        S.agents = list;
        break;
      }
      case 'sessionpaused':
        if (!!p.paused !== S.paused) say(t(p.paused ? 'sessionPaused' : 'sessionResumed'));
        S.paused = !!p.paused; break;
      case 'connection':
        if (p.status === 'reconnecting' && S.conn !== 'reconnecting') say(t('connectionWarning'));
        if (p.status === 'ok' && S.conn === 'reconnecting') say(t('connectionRestored'));
        S.conn = p.status === 'reconnecting' ? 'reconnecting' : 'ok'; break;
      case 'rcenabled':
        closeKinds(/^rc$/);
        if (!!p.enabled !== S.rc) say(p.enabled ? t('remoteControlOn', { name: S.rcName || t('theAgent') }) : t('remoteControlOff'));
        S.rc = !!p.enabled; break;
      case 'rcrequested':
        S.rcName = (p.agent && (p.agent.name || p.agent.username)) || '';
        if (!pageListens && typeof p.accept == 'function') ask('rc', p, ['allow', 'deny'], p.accept, p.decline);
        break;
      case 'confirm':
        if (!pageListens && typeof p.accept == 'function') ask('nav', p, ['go', 'stay'], p.accept, p.decline);
        break;
      case 'addguestrequested':
        if (!pageListens && typeof p.accept == 'function') ask('guest', p, ['accept', 'decline'], p.accept, p.decline || (() => {}));
        break;
      case 'accessibility':
        S.a11y = !!p.enabled; break;
      case 'outline': {
        if (!S.a11y || typeof p.path != 'string') break;
        let target = null;
        try { target = doc.querySelector(p.path); } catch (_) { target = null; }
        const what = describe(target, ctx.masked);
        const who = (p.agent && (p.agent.name || p.agent.username)) || t('theAgent');
        say(what ? t('outlineAnnounce', { name: who, target: what }) : t('outlineAnnounceMasked', { name: who }));
        break;
      }
      case 'error':
        if (/^(service|dupkey|conndrop)$/.test(p.code) && S.phase !== 'active') {
          S.error = t(p.code === 'dupkey' ? 'errorDupKey' : p.code === 'conndrop' ? 'errorConnDrop' : 'errorService');
          S.phase = 'idle';
          say(S.error);
          const shownError = S.error;
          setTimeout(() => { if (S.error === shownError) { S.error = ''; render(); } }, 10000);
        }
        break;
      case 'sessionend':
        if (S.phase !== 'idle') say(t('sessionEnded'));
        Object.assign(S, { phase: 'idle', key: '', paused: false, conn: 'ok', agents: [], rc: false, confirmStop: false });
        closeKinds(/^(rc|nav|guest)$/);
        break;
      default:
        return;
    }
    render();
  }

  const safe = (f) => (...a) => run(() => { try { f(...a); } catch (e) { warn('failed: ' + (e && e.message || e)); } });
  return {
    ready,
    event: safe((n, p, l) => { event(n, p, l); }),
    showTerms: safe((params) => {
      if (S.phase !== 'idle') return;
      // ctx.terms reports the dialog to a presence agent (loader: VisitorUI.reportTerms).
      const terms = typeof ctx.terms == 'function' ? ctx.terms : () => {};
      dialog('terms', { dialog: 'glance_terms', yes: 'glance_terms_accept', no: 'glance_terms_decline' },
        { title: t('termsTitle'), text: t('termsText'), yes: t('termsAccept'), no: t('termsDecline') },
        () => { terms('accepted'); V.startSession(params); }, () => terms('declined'));
      terms('displayed');
    }),
    promptCrossDomain: safe((params) => {
      dialog('xd', { dialog: 'glance_xd', yes: 'glance_xd_continue', no: 'glance_xd_cancel' },
        { title: t('xdTitle'), text: t('xdText'), yes: t('xdContinue'), no: t('xdCancel') },
        () => V.crossDomain(params), () => {});
    })
  };
}
