// The offline service worker in Debian's headless chromium. Steps that need the network
// to go away or come back, or a new release, print {"wait": "<name>"} on stdout and wait
// for a line on stdin (the Rust test stops/starts the origin, publishes the fix).
// Usage: node offline.mjs <base-url> <spec.json>
// spec.json: { "visit": [3 lesson paths], "unvisited": path, "course": "/courses/x/",
//              "lessons": [every lesson path of x], "fixed": path, "fix_marker": "...",
//              "blocked": path }
// Prints (last line) { visited, unvisited, gateway, gateway_unvisited, save, saved_offline, updated, fixed_offline,
//                      blocked, axe, problems }.
import { launch } from './launch.mjs';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const [base, specFile] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specFile, 'utf8'));
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function wait(name) {
  process.stdout.write(JSON.stringify({ wait: name }) + '\n');
  await lines.next();
}
const url = (path) => new URL(path, base).toString();
const browser = await launch();
const problems = [];
const out = { problems, axe: [] };

function watch(page, online) {
  page.on('pageerror', (err) => problems.push(`page error (${page.url()}): ${err.message}`));
  if (online) {
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console (${page.url()}): ${m.text()}`); });
  }
}

// What a page shows: whether it is the theme's page, its notice, its images and animations.
async function look(page, response) {
  return {
    status: response?.status() ?? 0,
    lesson: await page.locator('h1.lesson-title').count() > 0,
    notice: await page.evaluate(() => [...document.querySelectorAll('.offline-notice')]
      .some((n) => !n.hidden && n.getBoundingClientRect().height > 0)),
    images: await page.evaluate(() => [...document.querySelectorAll('main img')]
      .map((i) => ({ src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0 }))),
    lottie: await page.evaluate(() => ({
      players: document.querySelectorAll('[data-lottie-src]').length,
      rendered: document.querySelectorAll('[data-lottie-src] svg').length,
    })),
    // Whether each video got its metadata (from the network, or offline from a saved copy).
    videos: await page.evaluate(() => Promise.all([...document.querySelectorAll('main video')].map((v) =>
      new Promise((done) => {
        const result = (ok) => done({ src: v.currentSrc, ok, error: v.error ? v.error.code : null });
        if (v.readyState >= 1) return result(true);
        const timer = setTimeout(() => result(false), 8000);
        v.addEventListener('loadedmetadata', () => { clearTimeout(timer); result(true); }, { once: true });
        v.addEventListener('error', () => { clearTimeout(timer); result(false); }, { once: true });
        v.load();
      })))),
    styled: await page.evaluate(() => getComputedStyle(document.body).fontFamily.includes('system-ui')),
    text: await page.evaluate(() => document.querySelector('main')?.textContent ?? ''),
  };
}

async function controlled(page) {
  await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller, null,
    { timeout: 20000 });
}

try {
  // 1. Visited pages stay readable offline; an unvisited one shows the offline notice.
  let context = await browser.newContext();
  let page = await context.newPage();
  watch(page, true);
  await page.goto(url('/'), { waitUntil: 'networkidle' });
  await controlled(page);
  for (const path of spec.visit) await page.goto(url(path), { waitUntil: 'networkidle' });
  await page.waitForTimeout(500); // the worker's cache writes
  await wait('offline');
  await context.setOffline(true);
  page.removeAllListeners('console');
  out.visited = [];
  await page.reload({ waitUntil: 'load' });
  for (const path of [...spec.visit].reverse()) {
    const response = await page.goto(url(path), { waitUntil: 'load' });
    await page.waitForTimeout(800); // animations start
    out.visited.push({ path, ...await look(page, response) });
  }
  {
    const response = await page.goto(url(spec.unvisited), { waitUntil: 'load' });
    out.unvisited = { path: spec.unvisited, ...await look(page, response) };
  }
  // Online again, but the server is a gateway answering 503 (its origin is down): a
  // visited page is the kept copy, an unvisited one the gateway's own answer.
  await context.setOffline(false);
  await wait('gateway');
  {
    // (A reload: the page is still fresh in the HTTP cache, which a reload revalidates.)
    await page.goto(url(spec.visit[0]), { waitUntil: 'load' });
    const response = await page.reload({ waitUntil: 'load' });
    out.gateway = { path: spec.visit[0], ...await look(page, response) };
    const other = await page.goto(url(spec.unvisited), { waitUntil: 'load' });
    out.gateway_unvisited = { path: spec.unvisited, ...await look(page, other) };
  }
  await context.close();
  await wait('online');

  // 2. Save a course; offline, every lesson opens; a fix is fetched alone.
  context = await browser.newContext();
  page = await context.newPage();
  watch(page, true);
  await page.goto(url(spec.course), { waitUntil: 'networkidle' });
  await controlled(page);
  const section = page.locator('[data-offline-course]');
  await page.waitForSelector('[data-offline-state="unsaved"]', { timeout: 20000 });
  out.save = { offered: await section.locator('[data-offline-action="save"]').textContent() };
  out.axe.push(...await axe(page, `${spec.course} (save offered)`));
  const started = Date.now();
  await section.locator('[data-offline-action="save"]').click();
  await page.waitForSelector('[data-offline-state="saved"]', { timeout: 120000 });
  out.save.ms = Date.now() - started;
  out.save.fetched = JSON.parse(await section.getAttribute('data-offline-fetched'));
  out.save.status = await section.locator('.offline-save-status').textContent();
  out.axe.push(...await axe(page, `${spec.course} (saved)`));
  await wait('offline');
  await context.setOffline(true);
  page.removeAllListeners('console');
  out.saved_offline = [];
  for (const path of spec.lessons) {
    const response = await page.goto(url(path), { waitUntil: 'load' });
    const seen = await look(page, response);
    delete seen.text;
    // A range of each video, as a player asks for it, past the HTTP cache (which may have
    // been emptied): cut from the saved copy offline.
    seen.ranges = await page.evaluate(() => Promise.all([...document.querySelectorAll('main video')].map((v) =>
      fetch(v.currentSrc || v.querySelector('source')?.src, { headers: { range: 'bytes=10-109' }, cache: 'no-store' })
        .then(async (r) => ({ status: r.status, bytes: (await r.arrayBuffer()).byteLength,
                              range: r.headers.get('content-range') }))
        .catch((e) => ({ status: 0, error: String(e) })))));
    out.saved_offline.push({ path, ...seen });
  }
  await wait('fix');
  await context.setOffline(false);
  watch(page, true);
  await page.goto(url(spec.course), { waitUntil: 'load' });
  await page.waitForSelector('[data-offline-state="saved"][data-offline-fetched]:not([data-offline-updating])',
    { timeout: 30000 });
  out.updated = { fetched: JSON.parse(await section.getAttribute('data-offline-fetched')) };
  await wait('offline');
  await context.setOffline(true);
  page.removeAllListeners('console');
  {
    const response = await page.goto(url(spec.fixed), { waitUntil: 'load' });
    const seen = await look(page, response);
    out.fixed_offline = { path: spec.fixed, status: seen.status, notice: seen.notice,
                          has_fix: seen.text.includes(spec.fix_marker) };
  }
  await context.close();
  await wait('online');

  // 3. A blocked worker leaves the site as it was.
  context = await browser.newContext({ serviceWorkers: 'block' });
  page = await context.newPage();
  watch(page, true);
  const response = await page.goto(url(spec.blocked), { waitUntil: 'networkidle' });
  const seen = await look(page, response);
  out.blocked = { status: seen.status, lesson: seen.lesson, styled: seen.styled, notice: seen.notice,
                  images: seen.images };
  await context.close();

  // 4. A worker that fails to install (it throws) leaves the site as it was too.
  context = await browser.newContext();
  await context.route('**/sw.js', (route) => route.fulfill({
    status: 200, contentType: 'text/javascript', body: 'throw new Error("a broken worker");' }));
  page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`page error (broken worker): ${err.message}`));
  const res2 = await page.goto(url(spec.blocked), { waitUntil: 'networkidle' });
  await page.waitForTimeout(500);
  const seen2 = await look(page, res2);
  out.broken = { status: seen2.status, lesson: seen2.lesson, styled: seen2.styled, notice: seen2.notice,
                 controlled: await page.evaluate(() => Boolean(navigator.serviceWorker.controller)) };
  await context.close();

  // 5. A list that names another object for a page than the origin serves (a release
  //    published mid-save): the save stops and keeps no page.
  context = await browser.newContext();
  await context.route('**/_offline.json', async (route) => {
    const res = await route.fetch();
    const list = await res.json();
    const page1 = list.files.find((f) => f.url.endsWith('/'));
    page1.object = '0'.repeat(64);
    await route.fulfill({ response: res, body: JSON.stringify(list) });
  });
  page = await context.newPage();
  await page.goto(url(spec.course), { waitUntil: 'networkidle' });
  await controlled(page);
  await page.waitForSelector('[data-offline-state="unsaved"]', { timeout: 20000 });
  await page.locator('[data-offline-action="save"]').click();
  await page.waitForSelector('[data-offline-state="error"]', { timeout: 60000 });
  out.tampered = {
    state: await page.locator('[data-offline-course]').getAttribute('data-offline-state'),
    pages_kept: await page.evaluate(async (c) => {
      const cache = await caches.open('course:' + c.split('/')[2]);
      return (await cache.keys()).filter((r) => new URL(r.url).pathname.endsWith('/')).length;
    }, spec.course),
  };
  await context.close();
} finally {
  await browser.close();
}

async function axe(page, label) {
  await page.evaluate(axeSource);
  // The feature's own elements (the rest of the page is the theme's, checked elsewhere).
  const result = await page.evaluate((sel) => window.axe.run({ include: [sel] }, { resultTypes: ['violations'] }), '[data-offline-course]');
  return result.violations.map((v) => ({ page: label, id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(' ')) }));
}
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);
