/* Shared demo-site script: nav highlight, cart count, and the small cobrowse control.
 * Written defensively: the page must work when GLANCE is missing or the engine fails to load. */
(function () {
  'use strict';

  var CART_KEY = 'demo_cart';
  var EVENTS = ['sessionstarting', 'sessionstart', 'sessioncontinue', 'statereceived', 'sessionend',
    'leavesession', 'sessionpaused', 'connection', 'agents', 'error', 'blur', 'focus'];

  function $(id) { return document.getElementById(id); }
  function setText(id, text) { var el = $(id); if (el) el.textContent = text == null ? '' : String(text); }

  function visitor() {
    var g = window.GLANCE;
    return g && g.Cobrowse && g.Cobrowse.Visitor ? g.Cobrowse.Visitor : null;
  }

  // ---- cart (shared with products.js through window.DemoCart) ----
  function readCart() {
    try {
      var v = JSON.parse(window.localStorage.getItem(CART_KEY) || '[]');
      return Array.isArray(v) ? v : [];
    } catch (e) { return []; }
  }
  function writeCart(items) {
    try { window.localStorage.setItem(CART_KEY, JSON.stringify(items)); } catch (e) { /* storage blocked */ }
    renderCartCount(items);
  }
  function renderCartCount(items) { setText('cart-count', (items || readCart()).length); }
  window.DemoCart = {
    items: readCart,
    add: function (name) { var c = readCart(); c.push(name); writeCart(c); return c.length; },
    clear: function () { writeCart([]); }
  };

  // ---- cobrowse control ----
  function sessionKeyFrom(payload) {
    if (payload && payload.sessionKey) return payload.sessionKey;
    try {
      var v = visitor(), s = v && v.getSessionState();
      return s && s.sessionKey ? s.sessionKey : '';
    } catch (e) { return ''; }
  }

  function onEvent(name, payload) {
    setText('session-status', name);
    var control = $('cobrowse-control');
    if (name === 'sessionstarting') setText('session-error', '');
    if (name === 'sessionstart' || name === 'sessioncontinue' || name === 'statereceived') {
      var key = sessionKeyFrom(payload);
      if (key) setText('session-key', key);
      if (control) control.setAttribute('data-insession', 'true');
    }
    if (name === 'sessionend' || name === 'leavesession') {
      setText('session-key', '');
      if (control) control.setAttribute('data-insession', 'false');
    }
    if (name === 'error') {
      var code = payload && payload.code ? payload.code : 'error';
      var msg = payload && payload.msg ? payload.msg : '';
      setText('session-error', code + (msg ? ': ' + msg : ''));
    }
  }

  function bindControl() {
    var control = $('cobrowse-control');
    if (!control) return; // untagged page: no control
    var v = visitor();
    if (!v) {
      control.setAttribute('data-engine', 'missing');
      setText('session-error', 'Cobrowse is not available on this page.');
      return;
    }
    EVENTS.forEach(function (name) {
      try { v.addEventListener(name, function (payload) { onEvent(name, payload); }); } catch (e) { /* ignore */ }
    });
    var start = $('start-cobrowse'), stop = $('stop-cobrowse');
    if (start) start.addEventListener('click', function () {
      try { v.startSession(); } catch (e) { setText('session-error', String(e)); }
    });
    if (stop) stop.addEventListener('click', function () {
      try { v.stopSession(); } catch (e) { setText('session-error', String(e)); }
    });
    // Expose engine readiness to tests and humans.
    control.setAttribute('data-engine', 'loading');
    try {
      var loader = window.GLANCE.Cobrowse.Loader;
      if (loader && loader.ready && loader.ready.then) {
        loader.ready.then(function (engine) {
          control.setAttribute('data-engine', engine ? 'ready' : 'failed');
          var key = sessionKeyFrom(null);
          if (key) setText('session-key', key);
        }, function () { control.setAttribute('data-engine', 'failed'); });
      }
    } catch (e) { /* ignore */ }
  }

  function highlightNav() {
    var here = (window.location.pathname.split('/').pop() || 'index.html');
    var links = document.querySelectorAll('.site-nav a');
    for (var i = 0; i < links.length; i++) {
      if (links[i].getAttribute('href') === here) links[i].setAttribute('aria-current', 'page');
    }
  }

  function init() {
    try { highlightNav(); } catch (e) { /* ignore */ }
    renderCartCount();
    try { bindControl(); } catch (e) { setText('session-error', 'Cobrowse control failed: ' + e); }
    window.addEventListener('storage', function (ev) { if (ev.key === CART_KEY) renderCartCount(); });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
