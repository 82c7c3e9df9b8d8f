// Headless Chromium completes one of Sesame's browser logins (OpenID
// Connect or CAS): it opens Sesame's login route, signs in on the identity
// provider's own page (and consents, when asked), and lands on the
// application URL with the Sesame token in the fragment.
//
// Usage: node browser_login.mjs LOGIN_URL APP_PREFIX USER PASSWORD
// Prints the final URL's fragment (token=...&TTL=...&login=...).
import { chromium } from 'playwright-core';

const [loginUrl, appPrefix, user, password] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage();
  await page.goto(loginUrl);
  // oidc-provider names the field `login`, CAS servers `username`.
  const userField = (await page.$('input[name="login"]')) ? 'input[name="login"]' : 'input[name="username"]';
  await page.fill(userField, user);
  await page.fill('input[name="password"]', password);
  // Submit, then follow the pages until the application: each step waits for
  // the URL to change, so a form is never submitted twice.
  const deadline = Date.now() + 30000;
  let url = page.url();
  await page.click('button[type="submit"]');
  while (!page.url().startsWith(appPrefix)) {
    if (Date.now() > deadline) throw new Error(`stuck at ${page.url()}`);
    await page.waitForURL((u) => u.toString() !== url, { timeout: 15000 });
    url = page.url();
    if (url.startsWith(appPrefix)) break;
    await page.waitForLoadState();
    // A consent page, when the provider shows one.
    const button = await page.$('button[type="submit"]');
    if (button) await button.click();
  }
  console.log(new URL(page.url()).hash.slice(1));
} finally {
  await browser.close();
}
