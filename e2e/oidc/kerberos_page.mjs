// Headless Chromium on a page that calls Sesame's SSO route with fetch():
// Chromium answers the Negotiate challenge with a ticket from KRB5CCNAME
// when the host is in its allowlist (EXTRA_ARGS, see chromium.mjs). Prints
// what the page saw as JSON: {"status": ..., "body": ...}.
//
// On Linux, Chromium loads GSSAPI only in an unsandboxed network service,
// which it starts once it has recorded (in "Local State") that a server
// asked for Negotiate. The profile is seeded with that
// record, and with CNAME lookups off (else the service is named after the
// address a test name resolves to; the --disable-auth-negotiate-cname-lookup
// switch no longer does it from the command line).
//
// Usage: node kerberos_page.mjs PAGE_URL PROFILE_DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchPersistent } from './chromium.mjs';

const [url, profile] = process.argv.slice(2);
mkdirSync(profile, { recursive: true });
writeFileSync(join(profile, 'Local State'),
  JSON.stringify({
    net: { received_http_auth_negotiate_headers: true },
    auth: { disable_negotiate_cname_lookup: true },
  }));
const context = await launchPersistent(profile);
try {
  const page = context.pages()[0] || await context.newPage();
  await page.goto(url);
  await page.waitForSelector('body[data-done="1"]', { timeout: 15000 });
  console.log((await page.textContent('#result')).trim());
} finally {
  await context.close();
}
