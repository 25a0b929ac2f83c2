// The search and offline benchmark's browser half (Debian's chromium via playwright-core).
//   node measure.mjs search <ours-base> <ours-page> <mdbook-base> <mdbook-page> <query>...
//   node measure.mjs offline <ours-base> <course-path>
// search: for each query and each tool, a fresh context (cold cache) opens the page, waits
//   for it to settle, types the query and waits for the first result; it lists every
//   search file fetched from navigation start to the first result (ours: /_search/...,
//   each /courses/<slug>/_search/ probe, js/search.js; mdBook: searchindex, elasticlunr,
//   mark, searcher), Pagefind's web worker's fetches included (whose sizes chromium does
//   not report: search.sh sizes each file as the server sends it), and the time from the
//   first key to the first result.
// offline: saves the course for offline, timing it, then (the network off) opens every
//   file of its save list that is a page and counts those served.
// Prints one JSON document.
import { createRequire } from 'node:module';

// playwright-core as the end-to-end tests install it (tests/browser, `npm ci`).
const { chromium } = createRequire(new URL('../../tests/browser/package.json', import.meta.url))('playwright-core');
const [mode, ...args] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});

const OURS = /\/_search\/|\/assets\/search\.[0-9a-f]+\.js$/;
const MDBOOK = /(searchindex[^/]*\.(js|json)|elasticlunr[^/]*\.js|mark[^/]*\.js|searcher[^/]*\.js)(\?.*)?$/;

async function measure(base, path, query, tool) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const files = [];
  page.on('requestfinished', async (req) => {
    const url = req.url();
    if (!(tool === 'ours' ? OURS : MDBOOK).test(new URL(url).pathname)) return;
    const res = await req.response().catch(() => null);
    files.push({ url: new URL(url).pathname, status: res ? res.status() : 0,
                 encoding: res ? (await res.allHeaders().catch(() => ({})))['content-encoding'] ?? null : null });
  });
  await page.goto(new URL(path, base).toString(), { waitUntil: 'networkidle' });
  let started;
  if (tool === 'ours') {
    const scope = page.locator('form[data-search] input[name="course"]');
    if (await scope.count()) await scope.uncheck();
    await page.click('#site-search-input');
    started = Date.now();
    await page.keyboard.type(query);
    await page.waitForSelector('.site-search-results a', { timeout: 60000 });
  } else {
    // mdBook 0.5 prefixes its ids with `mdbook-`; 0.4 did not.
    await page.click('#mdbook-search-toggle, #search-toggle');
    started = Date.now();
    await page.keyboard.type(query);
    await page.waitForSelector('#mdbook-searchresults li, #searchresults li', { timeout: 60000 });
  }
  const ms = Date.now() - started;
  const results = await page.evaluate((t) => document.querySelectorAll(
    t === 'ours' ? '.site-search-results a' : '#mdbook-searchresults li, #searchresults li').length, tool);
  await page.waitForTimeout(200);
  await context.close();
  return { tool, query, ms, results, files };
}

const out = {};
try {
  if (mode === 'search') {
    const [oursBase, oursPage, mdBase, mdPage, ...queries] = args;
    out.runs = [];
    for (const q of queries) {
      out.runs.push(await measure(oursBase, oursPage, q, 'ours'));
      out.runs.push(await measure(mdBase, mdPage, q, 'mdbook'));
    }
  } else if (mode === 'offline') {
    const [base, course] = args;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(new URL(course, base).toString(), { waitUntil: 'networkidle' });
    await page.waitForFunction(() => navigator.serviceWorker?.controller, null, { timeout: 30000 });
    await page.waitForSelector('[data-offline-state="unsaved"]', { timeout: 30000 });
    const list = await page.evaluate((c) => fetch(c + '_offline.json').then((r) => r.json()), course);
    const started = Date.now();
    await page.click('[data-offline-action="save"]');
    await page.waitForSelector('[data-offline-state="saved"]', { timeout: 600000 });
    out.save_ms = Date.now() - started;
    out.files = list.files.length;
    out.bytes = list.bytes;
    await context.setOffline(true);
    const pages = list.files.filter((f) => f.url.endsWith('/'));
    let served = 0;
    for (const f of pages) {
      const res = await page.goto(new URL(f.url, base).toString(), { waitUntil: 'load' });
      if (res && res.status() === 200 && await page.locator('main').count()) served++;
    }
    out.pages = pages.length;
    out.served_offline = served;
    await context.close();
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');
