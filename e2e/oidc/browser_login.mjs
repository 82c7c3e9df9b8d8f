// Headless Chromium completes one of Sesame's browser logins (OpenID
// Connect or CAS): it opens Sesame's login route, signs in on the identity
// provider's own page (and consents, when asked), and lands on the
// application URL with the Sesame token in the fragment.
//
// Usage: [AFTER_URL=...] node browser_login.mjs LOGIN_URL APP_PREFIX USER PASSWORD
// Prints the final URL's fragment (token=...&TTL=...&login=...).
import { launch } from './chromium.mjs';

const [loginUrl, appPrefix, user, password] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(loginUrl);
  // oidc-provider names the field `login`, CAS servers `username`.
  const userField = (await page.$('input[name="login"]')) ? 'input[name="login"]' : 'input[name="username"]';
  await page.fill(userField, user);
  await page.fill('input[name="password"]', password);
  // Submit, then follow the pages until the application: each step waits for
  // the URL to change, so a form is never submitted twice.
  const deadline = Date.now() + 45000;
  let url = page.url();
  await page.click('button[type="submit"]');
  while (!page.url().startsWith(appPrefix)) {
    if (Date.now() > deadline) throw new Error(`stuck at ${page.url()}`);
    await page.waitForURL((u) => u.toString() !== url, { timeout: 30000, waitUntil: 'commit' });
    url = page.url();
    if (url.startsWith(appPrefix)) break;
    await page.waitForLoadState();
    // A consent page, when the provider shows one.
    const button = await page.$('button[type="submit"]');
    if (button) await button.click();
  }
  console.log(new URL(page.url()).hash.slice(1));
  // Then, when asked, one more page in the same browser (a logout).
  if (process.env.AFTER_URL) await page.goto(process.env.AFTER_URL);
} finally {
  await browser.close();
}
