// The theme's search box in Debian's headless chromium: search a word from a lesson's body
// and open the first result with the keyboard; search a phrase only an enrolled lesson
// holds without and with its grant cookies; run axe-core on the box and its results.
// Usage: node search.mjs <base-url> <spec.json>
// spec.json: { "from": "/", "body_word": "...", "enrolled_word": "...",
//              "cookies": [{ "name", "value", "path", "httpOnly" }], "axe_pages": ["/", ...],
//              "granted_page": an enrolled lesson (searched from with the grant but no hint),
//              "extra_queries": ["...", ...] (optional) }
// Prints { body: {hits, opened}, enrolled_without, enrolled_with, unhinted_from_lesson,
//          enrolled_requests: {without, with, unhinted}: paths under /courses/*/_search/,
//          extra: {query: [hit]},
//          extra_with: {query: [hit]} (with the grant), axe, problems }.
import { launch } from './launch.mjs';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const [base, specFile] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specFile, 'utf8'));
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const browser = await launch();
const problems = [];

async function newPage(context) {
  // (context.label: which of enrolledRequests its pages' requests go to)
  const page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('request', (req) => {
    const path = new URL(req.url()).pathname;
    if (/^\/courses\/[^/]+\/_search\//.test(path)) enrolledRequests[context.label].push(path);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
  });
  return page;
}

// Paths asked for under /courses/<slug>/_search/, by context.
const enrolledRequests = { without: [], with: [], unhinted: [] };

// Types `query` into the box and waits for its answer; returns the result links.
async function search(page, query, { wholeSite = true } = {}) {
  const scope = page.locator('form[data-search] input[name="course"]');
  if (wholeSite && await scope.count()) await scope.uncheck();
  await page.fill('#site-search-input', query);
  await page.waitForFunction(
    (q) => document.querySelector('form[data-search]').getAttribute('data-searched') === q,
    query, { timeout: 20000 });
  return page.$$eval('.site-search-results a', (links) => links.map((a) => ({
    href: a.getAttribute('href'),
    title: a.querySelector('.site-search-title')?.textContent ?? '',
    course: a.querySelector('.site-search-course')?.textContent ?? '',
    excerpt: a.querySelector('.site-search-excerpt')?.innerHTML ?? '',
    marked: [...a.querySelectorAll('.site-search-excerpt mark')].map((m) => m.textContent),
  })));
}

async function axe(page, label) {
  await page.evaluate(axeSource);
  // The feature's own elements (the rest of the page is the theme's, checked elsewhere).
  const result = await page.evaluate((sel) => window.axe.run({ include: [sel] }, { resultTypes: ['violations'] }), 'form[data-search]');
  return result.violations.map((v) => ({ page: label, id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.target.join(' ')) }));
}

const out = { body: {}, enrolled_without: [], enrolled_with: [], axe: [], problems };
try {
  // Without a grant.
  let context = await browser.newContext();
  context.label = 'without';
  let page = await newPage(context);
  await page.goto(new URL(spec.from, base).toString(), { waitUntil: 'networkidle' });
  const hits = await search(page, spec.body_word);
  out.body.hits = hits;
  out.axe.push(...await axe(page, `${spec.from} with results`));
  if (hits.length) {
    // Keyboard only: from the box, ArrowDown to the first result, Enter opens it.
    await page.focus('#site-search-input');
    await page.keyboard.press('ArrowDown');
    out.body.focused = await page.evaluate(() => document.activeElement?.getAttribute('href'));
    await Promise.all([page.waitForURL((u) => u.pathname !== spec.from, { timeout: 20000 }),
                       page.keyboard.press('Enter')]);
    out.body.opened = new URL(page.url()).pathname;
  }
  out.enrolled_without_hits = await search(page, spec.enrolled_word);
  out.enrolled_without = out.enrolled_without_hits.map((h) => h.href);
  out.extra = {};
  for (const q of spec.extra_queries ?? []) out.extra[q] = await search(page, q);
  for (const path of spec.axe_pages ?? []) {
    const p = await newPage(context);
    await p.goto(new URL(path, base).toString(), { waitUntil: 'networkidle' });
    out.axe.push(...await axe(p, path));
    await p.close();
  }
  await context.close();

  // With the grant cookies of the enrolled course (and their hint).
  context = await browser.newContext();
  context.label = 'with';
  const host = new URL(base);
  const asCookie = (c) => ({
    name: c.name, value: c.value, domain: host.hostname, path: c.path, httpOnly: c.httpOnly, secure: false, sameSite: 'Lax',
  });
  await context.addCookies(spec.cookies.map(asCookie));
  page = await newPage(context);
  await page.goto(new URL(spec.from, base).toString(), { waitUntil: 'networkidle' });
  const granted = await search(page, spec.enrolled_word);
  out.enrolled_with = granted.map((h) => h.href);
  out.enrolled_with_hits = granted;
  out.extra_with = {};
  for (const q of spec.extra_queries ?? []) out.extra_with[q] = await search(page, q);
  await context.close();

  // The grant without its hint (as another issuer sets it), from an enrolled lesson.
  if (spec.granted_page) {
    context = await browser.newContext();
    context.label = 'unhinted';
    await context.addCookies(spec.cookies.filter((c) => c.httpOnly).map(asCookie));
    page = await newPage(context);
    await page.goto(new URL(spec.granted_page, base).toString(), { waitUntil: 'networkidle' });
    out.unhinted_from_lesson = (await search(page, spec.enrolled_word)).map((h) => h.href);
    await context.close();
  }
  out.enrolled_requests = enrolledRequests;
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
