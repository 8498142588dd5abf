// Code that runs inside the visitor page. Every exported function is shipped to the page as source
// (page.addInitScript / page.evaluate), so each must be self-contained.

/**
 * Init script (before any page script): `window.__bench` collects every message the recorder under
 * test emits, with `performance.now()` timestamps taken in the page:
 *  - ours: every frame sent on the visitor WebSocket (WebSocket.prototype.send is wrapped; sockets
 *    to `/ws/visitor` are tagged by a wrapping constructor, which also timestamps the server's
 *    `welcome`, detected with JSON.parse(data).t);
 *  - rrweb: every event given to `emit`, serialized with JSON.stringify (the wire form);
 *  - clarity: every payload given to its `upload` callback.
 * `mark(name)` stamps a trace marker (console.timeStamp) so the trace and the page agree on windows.
 * With `counting`, every wasm import/export call is counted (boundary crossings; never in timed runs).
 */
export function INSTRUMENT(opts) {
  const B = window.__bench = {
    out: [], welcome: 0, snapAt: 0, lastOut: 0, marks: {}, counting: !!(opts && opts.counting),
    cx: { imports: {}, exports: {}, total: 0, chunks: 0, collects: 0, collectBatches: 0 },
  };
  let snapResolve;
  B.snapDone = new Promise((r) => { snapResolve = r; });
  B.mark = (n) => { const t = performance.now(); console.timeStamp(n); B.marks[n] = t; return t; };
  B.emit = (s, isSnap) => {
    const t = performance.now();
    B.out.push([t, s]);
    B.lastOut = t;
    if (isSnap && !B.snapAt) { B.snapAt = t; snapResolve(t); }
  };
  // Cheap in-page classification (the full JSON.parse happens after the timed window): the first
  // `"t":"..."` key in the first or last 4 KB (a JSON key needs unescaped quotes, so text content
  // cannot fake it).
  const TYPE = /"t"\s*:\s*"(\w+)"/;
  B.quickType = (d) => {
    if (typeof d !== 'string') return null;
    let m = TYPE.exec(d.length > 8192 ? d.slice(0, 4096) : d);
    if (!m && d.length > 8192) m = TYPE.exec(d.slice(-4096));
    return m ? m[1] : null;
  };
  const Orig = window.WebSocket;
  const send = Orig.prototype.send;
  Orig.prototype.send = function (d) {
    // The snapshot: the first frame after `welcome` that is binary (the engine gzips frames of
    // 2 KB and more) or a `snap` text frame; verified after the window by decoding it.
    if (this.__benchVisitor) B.emit(d, B.welcome > 0 && !B.snapAt && (typeof d !== 'string' || B.quickType(d) === 'snap'));
    return send.apply(this, arguments);
  };
  function W(url, protocols) {
    const ws = protocols === undefined ? new Orig(url) : new Orig(url, protocols);
    if (String(url).includes('/ws/visitor')) {
      ws.__benchVisitor = true;
      ws.addEventListener('message', (e) => {
        if (B.welcome || typeof e.data !== 'string' || e.data.length > 1e6) return;
        try { if (JSON.parse(e.data).t === 'welcome') B.welcome = performance.now(); } catch (_) { /* not JSON */ }
      });
    }
    return ws;
  }
  W.prototype = Orig.prototype;
  Object.assign(W, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  window.WebSocket = W;

  if (B.counting) {
    // Boundary crossings: wrap the import object (wasm -> JS calls) and the instance's exports
    // (JS -> wasm calls, closures included) of the engine's wasm module.
    const cx = B.cx;
    const wrapImports = (imports) => {
      const out = {};
      for (const mod of Object.keys(imports || {})) {
        out[mod] = {};
        for (const [k, v] of Object.entries(imports[mod])) {
          out[mod][k] = typeof v === 'function' ? function () { cx.total++; cx.imports[k] = (cx.imports[k] || 0) + 1; return v.apply(this, arguments); } : v;
        }
      }
      return out;
    };
    const wrapInstance = (inst) => {
      const ex = {};
      for (const [k, v] of Object.entries(inst.exports)) {
        ex[k] = typeof v === 'function' ? function () { cx.total++; cx.exports[k] = (cx.exports[k] || 0) + 1; return v.apply(this, arguments); } : v;
      }
      return { exports: ex };
    };
    const is = WebAssembly.instantiateStreaming, i = WebAssembly.instantiate;
    WebAssembly.instantiateStreaming = async (src, imports) => {
      const r = await is.call(WebAssembly, src, wrapImports(imports));
      return { module: r.module, instance: wrapInstance(r.instance) };
    };
    WebAssembly.instantiate = async (src, imports) => {
      const r = await i.call(WebAssembly, src, wrapImports(imports));
      if (r instanceof WebAssembly.Instance) return wrapInstance(r);
      return { module: r.module, instance: wrapInstance(r.instance) };
    };
  }
}

/** Node counts of the page (every node type, as the engines see them) and the HTML size. */
export function PAGE_FACTS() {
  let nodes = 0, elements = 0, texts = 0, clarity = 0;
  const tw = document.createTreeWalker(document, NodeFilter.SHOW_ALL);
  // What clarity's Discover lists by design: no comments, <meta>, <script> (with its text), and a
  // <style>'s text travels as the style's value.
  const skip = (n) => n.nodeType === 8 || (n.nodeType === 1 && (n.localName === 'meta' || n.localName === 'script')) ||
    (n.nodeType === 3 && n.parentNode && (n.parentNode.localName === 'script' || n.parentNode.localName === 'style'));
  for (let n = tw.nextNode(); n; n = tw.nextNode()) {
    nodes++;
    if (n.nodeType === 1) elements++; else if (n.nodeType === 3) texts++;
    if (!skip(n)) clarity++;
  }
  return { nodes, elements, texts, clarity };
}

/** Patches the walker's prototype (same module instance as the engine's) to count slices and batches. */
export async function PATCH_WALKER(url) {
  const B = window.__bench;
  const m = await import(url);
  const P = m.DomCapture.prototype;
  const snap = P.snapshot, collect = P.collect;
  P.snapshot = function (budget, onChunk) {
    return snap.call(this, budget, function (b) { B.cx.chunks++; return onChunk.apply(this, arguments); });
  };
  P.collect = function () {
    B.cx.collects++;
    const r = collect.apply(this, arguments);
    if (r) B.cx.collectBatches++;
    return r;
  };
  return true;
}

/**
 * Starts the recorder under test (or runs the floors) and resolves once its full snapshot has been
 * emitted and the page has gone quiet. Runs inside the timed/traced window.
 */
export async function START(o) {
  const B = window.__bench;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const quiet = async (ms, timeout) => {
    const t0 = performance.now();
    for (;;) {
      const now = performance.now();
      if (now - Math.max(B.lastOut, t0) >= ms || now - t0 > timeout) return;
      await sleep(Math.min(50, ms / 4));
    }
  };
  const res = { engine: o.engine };
  if (o.engine === 'floors') {
    // Floors: outerHTML, then a plain JS read-walk (tag, attribute names+values, text), each alone.
    res.outerStart = B.mark('bench:outer:start');
    const h = document.documentElement.outerHTML;
    res.outerEnd = B.mark('bench:outer:end');
    B.html = h;
    await sleep(200);
    res.walkStart = B.mark('bench:walk:start');
    let sum = 0, count = 0;
    const stack = [document];
    while (stack.length) {
      const n = stack.pop();
      count++;
      const t = n.nodeType;
      if (t === 1) {
        sum += n.localName.length;
        const names = n.getAttributeNames();
        for (let i = 0; i < names.length; i++) sum += names[i].length + n.getAttribute(names[i]).length;
      } else if (t === 3 || t === 8) {
        sum += n.data.length;
      }
      for (let c = n.lastChild; c; c = c.previousSibling) stack.push(c);
    }
    res.walkEnd = B.mark('bench:walk:end');
    res.walkNodes = count;
    res.walkSum = sum;
    await sleep(50);
    return res;
  }
  B.out.length = 0;
  res.start = B.mark('bench:start');
  if (o.engine.startsWith('glance')) {
    window.GLANCE.Cobrowse.Visitor.startSession();
  } else if (o.engine === 'rrweb') {
    B.stopRec = window.rrweb.record({
      emit(e) { B.emit(JSON.stringify(e), e.type === 2); },
      blockSelector: o.masks.length ? o.masks.join(',') : null,
      maskInputOptions: { password: true },
    });
  } else if (o.engine === 'clarity') {
    window.clarity('start', {
      projectId: 'benchmark', upload: (p) => B.emit(p, /\[\d+,5,/.test(p)), delay: o.clarityDelay,
      track: false, content: true, lean: false, mask: o.masks,
    });
  } else if (o.engine === 'none' || o.engine === 'mo') {
    if (o.engine === 'mo') {
      B.moCount = 0;
      B.mo = new MutationObserver((recs) => { B.moCount += recs.length; });
      B.mo.observe(document, { childList: true, subtree: true, attributes: true, characterData: true });
    }
    B.snapAt = performance.now();
  } else {
    throw new Error('unknown engine ' + o.engine);
  }
  const timer = new Promise((r) => setTimeout(() => r('timeout'), o.timeoutMs));
  if (!B.snapAt && (await Promise.race([B.snapDone, timer])) === 'timeout') res.timeout = true;
  res.snapAt = B.snapAt;
  res.welcome = B.welcome;
  // Trailing work after the snapshot (acks, deferred writes, clarity's follow-up uploads) counts
  // until the page is quiet, for at most maxTrailMs (clarity keeps uploading small payloads).
  await quiet(o.quietMs, o.maxTrailMs || o.timeoutMs);
  if (o.engine.startsWith('glance')) {
    // Our engine writes `data-gid` in idle slices after the snapshot: wait for that work too.
    const t0 = performance.now();
    while (document.querySelector(':not([data-gid])') && performance.now() - t0 < (o.settleMs || 5000)) await sleep(50);
    res.gidSettled = !document.querySelector(':not([data-gid])');
  }
  res.lastOut = B.lastOut;
  res.nOut = B.out.length;
  res.end = B.mark('bench:end');
  return res;
}

/** One mutation step of a scenario, inside the traced window; waits until the recorder is quiet. */
export async function STEP(o) {
  const B = window.__bench;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const res = { step: o.step };
  const before = B.out.length;
  const lis = Array.from(document.querySelectorAll('#list > .i'));
  const texts = lis.map((li) => li.firstChild);
  await sleep(20);
  res.start = B.mark(`bench:${o.step}:start`);
  if (o.step === 'attrs') {
    for (let i = 0; i < lis.length; i++) lis[i].setAttribute('data-state', 's' + (i % 13) + '-' + o.round);
  } else if (o.step === 'add') {
    const box = document.getElementById('add');
    for (let i = 0; i < 1000; i++) {
      // 10 nodes: div, h3, text, p, text, b, text, span, text, i
      const d = document.createElement('div');
      d.className = 'card';
      d.innerHTML = '<h3>Card ' + i + '</h3><p>Body of card ' + i + ' <b>bold</b></p><span>tag ' + (i % 17) + '</span><i></i>';
      box.appendChild(d);
    }
  } else if (o.step === 'remove') {
    const box = document.getElementById('add');
    while (box.lastChild) box.removeChild(box.lastChild);
  } else if (o.step === 'move') {
    const list = document.getElementById('list');
    for (let i = lis.length - 1; i >= 0; i--) list.appendChild(lis[i]);
  } else if (o.step === 'text') {
    let frames = 0;
    const stopAt = res.start + o.churnMs;
    await new Promise((resolve) => {
      const frame = () => {
        if (performance.now() >= stopAt) return resolve();
        frames++;
        for (let i = 0; i < texts.length; i++) texts[i].data = 'f' + frames + ' item ' + i;
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    });
    res.frames = frames;
  }
  res.mutEnd = performance.now();
  // Quiet: no message for quietMs (and at least quietMs after the mutation).
  for (;;) {
    const now = performance.now();
    if (now - Math.max(B.lastOut, res.mutEnd) >= o.quietMs || now - res.mutEnd > o.timeoutMs) break;
    await sleep(Math.min(50, o.quietMs / 4));
  }
  res.nOut = B.out.length - before;
  res.lastOut = res.nOut ? B.out[B.out.length - 1][0] : null;
  res.end = B.mark(`bench:${o.step}:end`);
  return res;
}

/**
 * After the window, for the messages emitted in [from, to]:
 *   raw   UTF-8 bytes of the messages' JSON text (our binary frames are inflated first)
 *   wire  bytes as handed to the transport (our engine gzips frames of 2 KB and more itself;
 *         peers: the JSON text, as their callbacks receive it)
 *   gzip  the same JSON text through one native CompressionStream('gzip'), for every engine alike
 */
export async function MESSAGES(o) {
  const B = window.__bench;
  const enc = new TextEncoder();
  const sel = B.out.filter(([t]) => t >= o.from && t <= o.to);
  const bytesOf = (d) => (d instanceof ArrayBuffer ? new Uint8Array(d) : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : null);
  const gzip = async (parts) => {
    const cs = new CompressionStream('gzip');
    const w = cs.writable.getWriter();
    const reading = new Response(cs.readable).arrayBuffer();
    for (const p of parts) await w.write(p);
    await w.close();
    return (await reading).byteLength;
  };
  const texts = [];
  let raw = 0, wire = 0, binary = 0, snapWire = null;
  for (const [t, d] of sel) {
    let text;
    if (typeof d === 'string') { text = d; wire += enc.encode(d).length; if (t === o.snapAt) snapWire = enc.encode(d).length; }
    else {
      const u = d instanceof Blob ? new Uint8Array(await d.arrayBuffer()) : bytesOf(d);
      wire += u.length;
      if (t === o.snapAt) snapWire = u.length;
      binary++;
      try { text = await new Response(new Blob([u]).stream().pipeThrough(new DecompressionStream('gzip'))).text(); }
      catch (_) { text = new TextDecoder().decode(u); }
    }
    const u = enc.encode(text);
    raw += u.length;
    texts.push([text, u]);
  }
  const out = { count: sel.length, binary, raw, wire, snapWire, gzip: sel.length ? await gzip(texts.map((x) => x[1])) : 0, types: {} };
  // Full classification now that the window is closed.
  for (const [s] of texts) {
    let k;
    try {
      const m = JSON.parse(s);
      if (o.engine === 'rrweb') {
        k = 'rr' + m.type + (m.type === 3 && m.data ? '.' + m.data.source : '');
        if (m.type === 2) {
          let nodes = 0;
          const st = [m.data.node];
          while (st.length) { const n = st.pop(); nodes++; if (n.childNodes) for (const c of n.childNodes) st.push(c); }
          out.snapshotNodes = nodes;
        }
      } else if (o.engine === 'clarity') {
        k = 'upload';
      } else {
        k = m.t;
        if (m.t === 'snap' && Array.isArray(m.nodes)) out.snapshotNodes = m.nodes.length;
      }
    } catch (_) { k = 'unparsed'; }
    out.types[k] = (out.types[k] || 0) + 1;
  }
  if (o.snapAt) {
    const i = sel.findIndex(([t]) => t === o.snapAt);
    out.snapVerified = i >= 0 && (() => { try { return JSON.parse(texts[i][0]).t === 'snap'; } catch (_) { return false; } })();
  }
  if (o.html && B.html) {
    const h = enc.encode(B.html);
    out.htmlBytes = h.length;
    out.htmlGzip = await gzip([h]);
  }
  if (o.keepPayloads) out.payloads = texts.map((x) => x[0]);
  return out;
}

/** Drops the bench's own references to emitted messages (before measuring retained memory). */
export function RELEASE() {
  const B = window.__bench;
  B.out = [];
  B.html = null;
  return true;
}

/**
 * rrweb correctness: replays every recorded event with rrweb's own Replayer (into a detached root)
 * and compares the rebuilt <body> with the live one: same element tags and attributes (bar rrweb's
 * own `rr_*`), same text, same structure; blocked (masked) elements compare by tag only.
 */
export async function RRWEB_CHECK(o) {
  const B = window.__bench;
  if (B.stopRec) { B.stopRec(); B.stopRec = null; }
  const events = B.out.map(([, s]) => JSON.parse(s)); // rrweb: always text
  const root = document.createElement('div');
  root.id = '__bench_replay';
  root.style.cssText = 'position:absolute;left:-99999px;top:0;width:1280px;height:720px';
  document.documentElement.appendChild(root);
  try {
    const r = new window.rrweb.Replayer(events, { root, showWarning: false, mouseTail: false, triggerFocus: false, speed: 1 });
    const total = events[events.length - 1].timestamp - events[0].timestamp;
    r.pause(total + 1);
    await new Promise((res) => setTimeout(res, 50));
    const rdoc = r.iframe.contentDocument;
    const masked = (el) => o.masks.some((s) => { try { return el.matches(s); } catch (_) { return false; } });
    // rrweb records URL attributes absolute: compare them resolved against the page's base.
    const URLS = new Set(['href', 'src', 'action', 'poster']);
    const val = (el, n) => { const v = el.getAttribute(n); if (!URLS.has(n)) return v; try { return new URL(v, document.baseURI).href; } catch (_) { return v; } };
    // rrweb's rebuild sets autocomplete="off" on every form field on purpose, and records an
    // option's live selection as a `selected` attribute: not recording errors.
    const attrs = (el) => el.getAttributeNames().filter((n) => !/^(rr_|data-rr|data-gid$|autocomplete$|selected$)/.test(n) && !/^on/i.test(n))
      .sort().map((n) => n + '=' + val(el, n)).join(' ');
    const kids = (n) => Array.from(n.childNodes).filter((c) => (c.nodeType === 1 || c.nodeType === 3 || c.nodeType === 8) && c.id !== '__bench_replay');
    let compared = 0;
    const stack = [[document.body, rdoc.body, 'body']];
    while (stack.length) {
      const [v, m, p] = stack.pop();
      compared++;
      if (!m) return { ok: false, compared, report: `missing in the replay at ${p}` };
      if (v.nodeType !== m.nodeType) return { ok: false, compared, report: `node type differs at ${p}` };
      if (v.nodeType !== 1) {
        if (v.data !== m.data) return { ok: false, compared, report: `text differs at ${p}: ${JSON.stringify(v.data.slice(0, 60))} vs ${JSON.stringify(m.data.slice(0, 60))}` };
        continue;
      }
      if (v.localName !== m.localName && !(v.localName === 'script' && m.localName === 'noscript')) return { ok: false, compared, report: `tag differs at ${p}: ${v.localName} vs ${m.localName}` };
      if (masked(v) || v.localName === 'script') continue;
      if (attrs(v) !== attrs(m)) return { ok: false, compared, report: `attributes differ at ${p}: [${attrs(v).slice(0, 200)}] vs [${attrs(m).slice(0, 200)}]` };
      const vk = kids(v), mk = kids(m);
      if (vk.length !== mk.length) return { ok: false, compared, report: `child count differs at ${p}: ${vk.length} vs ${mk.length}` };
      for (let i = vk.length - 1; i >= 0; i--) stack.push([vk[i], mk[i], p + '>' + (vk[i].localName || '#' + vk[i].nodeType) + '[' + i + ']']);
    }
    return { ok: true, compared, report: `replayed ${events.length} events; ${compared} body nodes equal` };
  } catch (e) {
    return { ok: false, report: 'replay failed: ' + (e && e.message) };
  } finally {
    root.remove();
  }
}
