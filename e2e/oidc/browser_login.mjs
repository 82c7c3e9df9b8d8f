// Headless Chromium completes Sesame's OpenID Connect browser login: it
// opens Sesame's login route, signs in on the provider's own pages, consents,
// and lands on the application URL with the Sesame token in the fragment.
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
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForLoadState(), page.click('button[type="submit"]')]);
  // The consent page, when the provider shows one.
  if (!page.url().startsWith(appPrefix)) {
    await page.click('button[type="submit"]');
  }
  await page.waitForURL((url) => url.toString().startsWith(appPrefix), { timeout: 15000 });
  console.log(new URL(page.url()).hash.slice(1));
} finally {
  await browser.close();
}
