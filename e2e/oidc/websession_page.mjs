// Headless Chromium on the web application's page (behind nginx): it logs
// in as USER, lets the page trade its session cookie for a Sesame token and
// call the protected API, then prints what the page saw as JSON.
// With LOGOUT=1 it logs out (server side) before opening the page.
//
// Usage: node websession_page.mjs BASE_URL USER
import { launch } from './chromium.mjs';

const [base, user] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${base}/login?user=${encodeURIComponent(user)}`);
  if (process.env.LOGOUT === '1') {
    await page.goto(`${base}/logout`);
    await page.goto(`${base}/app`);
  }
  await page.waitForSelector('body[data-done="1"]', { timeout: 15000 });
  const text = async (id) => (await page.textContent(`#${id}`)).trim();
  console.log(JSON.stringify({ status: await text('status'), api: await text('api'), token: await text('token') }));
} finally {
  await browser.close();
}
