// Debian's Chromium, headless, as the e2e suites drive it: no sandbox (the
// suites may run as root) and no background networking (the machine has no
// way out, and Chromium would keep trying). EXTRA_ARGS adds switches,
// separated by '|' (e.g. the Kerberos allowlist).
import { chromium } from 'playwright-core';

const options = () => ({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ...(process.env.EXTRA_ARGS ? process.env.EXTRA_ARGS.split('|') : [])],
});

export function launch() {
  return chromium.launch(options());
}

// A browser with its own profile directory (prefs kept across restarts).
export function launchPersistent(dir) {
  return chromium.launchPersistentContext(dir, options());
}
