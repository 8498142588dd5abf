/* Live widget page: a clock and counter updating every second, a ticker gaining a row every 2 s
 * (at most 20 rows, the oldest removed), an inner scrollable div and tall content. */
(function () {
  'use strict';
  var MAX_ROWS = 20;
  var clock = document.getElementById('clock');
  var counter = document.getElementById('counter');
  var ticker = document.getElementById('ticker-list');
  var inner = document.getElementById('inner-scroll');
  var long = document.getElementById('long-content');
  var bump = document.getElementById('counter-bump');
  var n = 0, row = 0;

  function pad(x) { return (x < 10 ? '0' : '') + x; }
  function tick() {
    var d = new Date();
    if (clock) clock.textContent = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    n += 1;
    if (counter) counter.textContent = String(n);
  }
  function addRow() {
    if (!ticker) return;
    row += 1;
    var li = document.createElement('li');
    var price = (100 + Math.sin(row / 3) * 10).toFixed(2);
    li.textContent = 'Update ' + row + ': ACME ' + price;
    ticker.appendChild(li);
    while (ticker.children.length > MAX_ROWS) ticker.removeChild(ticker.firstElementChild);
  }

  if (bump) bump.addEventListener('click', function () { n += 10; if (counter) counter.textContent = String(n); });

  if (inner) {
    for (var i = 1; i <= 60; i++) {
      var p = document.createElement('p');
      p.textContent = 'Inner line ' + i + ': scroll this box independently of the page.';
      inner.appendChild(p);
    }
  }
  if (long) {
    for (var j = 1; j <= 12; j++) {
      var block = document.createElement('div');
      block.className = 'block';
      block.id = 'block-' + j;
      block.textContent = 'Block ' + j + ' of 12';
      long.appendChild(block);
    }
  }

  tick();
  addRow();
  setInterval(tick, 1000);
  setInterval(addRow, 2000);
})();
