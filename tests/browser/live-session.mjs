// An interactive chromium session for the live-authoring tests and bench/authoring.sh:
// reads one JSON command per line on stdin and answers each with one JSON line on stdout.
// Pages stay open between commands, so a test can edit content and watch them react.
//   {"cmd":"open","page":"a","path":"/x/"}              -> {"ok":true,"status":200}
//   {"cmd":"eval","page":"a","expr":"js"}               -> {"ok":true,"value":...}
//   {"cmd":"wait","page":"a","expr":"js","timeout_ms":N} -> {"ok":bool,"ms":N}  (until truthy)
//   {"cmd":"write","file":"/abs","text":"...","page":"a","timeout_ms":N}
//        writes the file, then waits for the page's next `load` (its reload):
//        -> {"ok":bool,"ms":N}  (ms: from just before the write to the load event)
//   {"cmd":"problems","page":"a"} -> {"ok":true,"value":[console errors, page errors, failed requests]}
//   {"cmd":"reloads","page":"a"}  -> {"ok":true,"value":N}  (loads after the first)
//   {"cmd":"close"}
// Usage: node live-session.mjs <base-url>
import { launch } from './launch.mjs';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const [base] = process.argv.slice(2);
const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
const pages = new Map();

function answer(value) { process.stdout.write(JSON.stringify(value) + '\n'); }

async function open(name, path) {
  const page = await context.newPage();
  const entry = { page, problems: [], loads: 0 };
  page.on('console', (msg) => { if (msg.type() === 'error') entry.problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => entry.problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => {
    // The event stream is cut when the page reloads: that is not a failure.
    if (!req.url().includes('/_live/events')) entry.problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`);
  });
  page.on('load', () => { entry.loads += 1; });
  pages.set(name, entry);
  const response = await page.goto(new URL(path, base).toString(), { waitUntil: 'load', timeout: 20000 });
  return { ok: true, status: response?.status() ?? 0 };
}

async function wait(entry, expr, timeoutMs) {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    try { if (await entry.page.evaluate(expr)) return { ok: true, ms: Date.now() - started }; } catch (_) { /* reloading */ }
    await new Promise((r) => setTimeout(r, 10));
  }
  return { ok: false, ms: Date.now() - started };
}

async function run(command) {
  const entry = pages.get(command.page);
  switch (command.cmd) {
    case 'open': return open(command.page, command.path);
    case 'eval': return { ok: true, value: await entry.page.evaluate(command.expr) };
    case 'wait': return wait(entry, command.expr, command.timeout_ms ?? 10000);
    case 'write': {
      const loaded = entry.page.waitForEvent('load', { timeout: command.timeout_ms ?? 10000 });
      const started = performance.now();
      writeFileSync(command.file, command.text);
      try { await loaded; } catch (_) { return { ok: false, ms: performance.now() - started }; }
      return { ok: true, ms: performance.now() - started };
    }
    case 'problems': return { ok: true, value: entry.problems };
    case 'reloads': return { ok: true, value: entry.loads - 1 };
    case 'close': await browser.close(); answer({ ok: true }); process.exit(0);
    default: return { ok: false, error: `unknown command ${command.cmd}` };
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  try { answer(await run(JSON.parse(line))); } catch (err) { answer({ ok: false, error: String(err) }); }
}
await browser.close();
