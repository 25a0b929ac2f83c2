// The service worker's bounds on what it keeps from browsing, in Debian's headless
// chromium: the theme registers it with small bounds (`/sw.js?pages=N&objects=M`), the
// script visits more pages than that, then reads the worker's caches and goes offline.
// Usage: node sw-bounds.mjs <base-url> <spec.json>
// spec.json: { "visit": [lesson paths, oldest first] }
// Prints { pages: [kept page paths], objects: count, offline: [{path, status, lesson, notice}], problems }.
import { launch } from './launch.mjs';
import { readFileSync } from 'node:fs';

const [base, specFile] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specFile, 'utf8'));
const url = (path) => new URL(path, base).toString();
const browser = await launch();
const problems = [];
const out = { problems };
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`page error (${page.url()}): ${err.message}`));
  // Installed by the first page, in control from the second: visit the first again last.
  await page.goto(url(spec.visit[0]), { waitUntil: 'networkidle' });
  await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller, null,
    { timeout: 20000 });
  for (const path of spec.visit) {
    await page.goto(url(path), { waitUntil: 'networkidle' });
    // The worker keeps and trims after answering: let it settle.
    await page.waitForTimeout(300);
  }
  const kept = await page.evaluate(async () => {
    const pages = await (await caches.open('pages-v1')).keys();
    const objects = await (await caches.open('objects-v1')).keys();
    return { pages: pages.map((r) => new URL(r.url).pathname), objects: objects.length };
  });
  out.pages = kept.pages;
  out.objects = kept.objects;
  // Offline, only the worker's copies count: the HTTP cache would still hold fresh pages.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.clearBrowserCache');
  await context.setOffline(true);
  out.offline = [];
  for (const path of spec.visit) {
    const response = await page.goto(url(path), { waitUntil: 'load' }).catch(() => null);
    out.offline.push({
      path,
      status: response?.status() ?? 0,
      lesson: await page.locator('h1.lesson-title').count() > 0,
      notice: await page.evaluate(() => [...document.querySelectorAll('.offline-notice')]
        .some((n) => !n.hidden && n.getBoundingClientRect().height > 0)).catch(() => false),
    });
  }
  await context.close();
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');
