// Debian's headless chromium as every test script starts it ($CHROMIUM overrides the path):
// no sandbox (tests run as root), no GPU, and none of its own network chatter.
import { chromium } from 'playwright-core';

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
}
