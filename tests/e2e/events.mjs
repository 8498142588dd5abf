// Helpers for pages that record visitor events into window.__events (pages/tagged.js,
// pages/record-events.js): wait for an event, list them, start a session and wait for its key.
import { sleep } from './harness.mjs';

/** The recorded events of `page`: [[name, payload], ...]. */
export async function events(page) {
  return page.evaluate(() => window.__events || []);
}

/** The names of the recorded events. */
export async function eventNames(page) {
  return (await events(page)).map(([n]) => n);
}

/** Waits for an event `name` whose payload satisfies `pred`; returns the payload. */
export async function waitEvent(page, name, pred = () => true, timeout = 10000) {
  const t0 = Date.now();
  for (;;) {
    const evs = await events(page);
    const hit = evs.find(([n, e]) => n === name && pred(e));
    if (hit) return hit[1];
    if (Date.now() - t0 > timeout) throw new Error(`no ${name} event within ${timeout} ms; got ${JSON.stringify(evs)}`);
    await sleep(50);
  }
}

/** Waits until `page` has recorded `count` events named `name`. */
export async function waitCount(page, name, count, timeout = 10000) {
  const t0 = Date.now();
  for (;;) {
    const n = (await eventNames(page)).filter((x) => x === name).length;
    if (n >= count) return n;
    if (Date.now() - t0 > timeout) throw new Error(`${n} ${name} events, wanted ${count}: ${JSON.stringify(await events(page))}`);
    await sleep(50);
  }
}

/** Waits for the page's loader and engine to be ready (events recorded from the start). */
export async function ready(page, timeout = 10000) {
  await page.waitForFunction(() => window.GLANCE && window.GLANCE.Cobrowse && window.GLANCE.Cobrowse.Loader,
    null, { timeout, polling: 50 });
  await page.evaluate(() => window.GLANCE.Cobrowse.Loader.ready);
}

/** Calls startSession(params) and returns the key of `sessionstart` (errors are recorded, not thrown). */
export async function start(page, params) {
  await ready(page);
  const before = (await eventNames(page)).filter((n) => n === 'sessionstart').length;
  await page.evaluate((p) => (p === undefined ? window.GLANCE.Cobrowse.Visitor.startSession()
    : window.GLANCE.Cobrowse.Visitor.startSession(p)), params);
  await waitCount(page, 'sessionstart', before + 1, 15000);
  const starts = (await events(page)).filter(([n]) => n === 'sessionstart');
  return starts[starts.length - 1][1].sessionKey;
}

/** Calls a GLANCE.Cobrowse.Visitor method with JSON-able arguments and returns its result. */
export async function visitor(page, method, ...args) {
  return page.evaluate(([m, a]) => window.GLANCE.Cobrowse.Visitor[m](...a), [method, args]);
}
