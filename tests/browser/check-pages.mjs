// Loads pages in Debian's headless chromium and reports, per page, every console error,
// page error, failed request and HTTP error response (sub-resources and frames included),
// plus the result of the page's own checks. Usage:
//   node check-pages.mjs <base-url> <spec.json>
// spec.json: [{ "path": "/", "checks": { "name": "<JS expression, truthy when fine>" },
//               "actions": ["<JS run in the page before the checks>"] }]
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';

const [base, specFile] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specFile, 'utf8'));
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--autoplay-policy=no-user-gesture-required'],
});
const results = [];
try {
  for (const page_spec of spec) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = [];
    page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (req) => {
      // Media elements abort their own range requests once they have what they need.
      const failure = req.failure()?.errorText ?? '';
      if (!(req.resourceType() === 'media' && failure.includes('ERR_ABORTED'))) {
        problems.push(`request failed: ${req.url()} ${failure}`);
      }
    });
    page.on('response', (res) => { if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`); });
    const url = new URL(page_spec.path, base).toString();
    const response = await page.goto(url, { waitUntil: 'networkidle', timeout: 20000 });
    for (const action of page_spec.actions ?? []) {
      await page.evaluate(action);
      await page.waitForTimeout(200);
    }
    await page.waitForTimeout(page_spec.settle_ms ?? 300);
    const checks = {};
    for (const [name, expr] of Object.entries(page_spec.checks ?? {})) {
      try { checks[name] = Boolean(await page.evaluate(expr)); } catch (e) { checks[name] = false; problems.push(`check ${name} threw: ${e.message}`); }
    }
    const frames = page.frames().map((f) => f.url()).filter((u) => u !== url);
    results.push({ path: page_spec.path, status: response?.status() ?? 0, problems, checks, frames });
    await context.close();
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(results, null, 2) + '\n');
