// A screenshot of the playground at a given state (for docs/img/playground.png):
//   node screenshot.mjs 'http://127.0.0.1:PORT/?f=...' OUT.png [WIDTH HEIGHT]
import { chromium } from 'playwright-core';

const [url, out, width = '1480', height = '820'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const page = await browser.newPage({ viewport: { width: Number(width), height: Number(height) } });
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready === '1' && document.body.dataset.pending === '0', null, { timeout: 20000 });
  await page.waitForTimeout(300);
  await page.screenshot({ path: out });
} finally {
  await browser.close();
}
