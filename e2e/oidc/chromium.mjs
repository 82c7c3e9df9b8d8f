// Debian's Chromium, headless, as the e2e suites drive it: no sandbox (the
// suites may run as root) and no background networking (the machine has no
// way out, and Chromium would keep trying).
import { chromium } from 'playwright-core';

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
