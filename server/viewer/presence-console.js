// The demo presence console (/agent/presence.html): documented agent APIs only.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var vid = '';
  function log(name, data) {
    var li = document.createElement('li');
    li.textContent = name + ' ' + JSON.stringify(data === undefined ? null : data);
    $('pc-log').appendChild(li);
  }
  GLANCE.Agent.addEventListenerAll(function (name, data) {
    var copy = {};
    Object.keys(data || {}).forEach(function (k) { if (typeof data[k] !== 'function') copy[k] = data[k]; });
    log(name, copy);
    if (name === 'presence' && copy.url) $('pc-status').textContent = 'on ' + copy.url;
  });
  $('pc-form').addEventListener('submit', function (e) {
    e.preventDefault();
    vid = $('pc-vid').value.trim();
    var creds = { username: $('pc-user').value, password: $('pc-pass').value };
    $('pc-status').textContent = 'signing in\u2026';
    GLANCE.Agent.authenticate(creds)
      .then(function () { return GLANCE.Authorization.authorize({ credentials: creds, groupid: GLANCE.Agent.groupid }); })
      .then(function () { return GLANCE.Agent.presenceConnect(vid); })
      .then(function (pa) {
        $('pc-status').textContent = 'watching ' + vid;
        $('pc-signal').disabled = false;
        $('pc-start').disabled = false;
        pa.onvisitorconn = function (d) { log('visitorconn', d); $('pc-status').textContent = d.connected ? 'present' : 'away'; };
      })
      .catch(function (err) { $('pc-status').textContent = 'failed: ' + (err && err.message || err); });
  });
  $('pc-signal').addEventListener('click', function () {
    var pa = new GLANCE.Presence.Agent({ visitorid: vid });
    pa.signalVisitor({ data: { text: 'Hello from the agent' },
      onsuccess: function () { log('signal', 'sent'); }, onfail: function (r) { log('signal failed', r); } });
  });
  $('pc-start').addEventListener('click', function () {
    GLANCE.Agent.presenceStartSession(vid).then(function () { log('session', 'viewer opened'); },
      function (err) { log('session failed', String(err && err.message || err)); });
  });
})();
