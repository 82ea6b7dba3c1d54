// The playground in headless Chromium, as a user would drive it: open the page, pick SGD and
// Adam, move Adam's learning-rate slider, check that the drawn path and the URL change, and that
// a shared URL restores the state. Saves screenshots.
//
//   node playground.mjs http://127.0.0.1:PORT/ OUT_DIR
//
// Uses Debian's /usr/bin/chromium (or $CHROMIUM); never downloads a browser.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [url, outDir] = process.argv.slice(2);
if (!url || !outDir) {
  console.error('usage: node playground.mjs URL OUT_DIR');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

function check(cond, message) {
  if (!cond) throw new Error(`check failed: ${message}`);
  console.log(`ok: ${message}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1480, height: 900 } });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
  });

  // settled: the first answer drawn and no request in flight or queued
  const settle = async () => {
    await page.waitForFunction(() => document.body.dataset.ready === '1' && document.body.dataset.pending === '0', null, { timeout: 20000 });
    await page.waitForTimeout(150); // the URL is written 60 ms after a change
  };
  const drawn = () => page.evaluate(() => ({
    digest: document.getElementById('map').dataset.paths,
    pixels: document.getElementById('map').toDataURL(),
    chart: document.getElementById('chart').toDataURL(),
  }));

  await page.goto(url);
  await settle();
  check((await page.title()) === 'optlab playground', 'the page loads');
  await page.screenshot({ path: join(outDir, 'default.png') });

  // two methods: SGD and Adam
  const cards = page.locator('#methods .method');
  while ((await cards.count()) > 2) await cards.nth(2).locator('button.remove').click();
  while ((await cards.count()) < 2) await page.click('#add-method');
  await cards.nth(0).locator('select.optimizer').selectOption('SGD');
  await settle();
  await cards.nth(1).locator('select.optimizer').selectOption('Adam');
  await settle();
  check((await cards.count()) === 2, 'two methods on the page');
  check(/[?&]m=SGD;/.test(page.url()) && /[?&]m=Adam;/.test(page.url()), `SGD and Adam in the URL: ${page.url()}`);
  const before = await drawn();
  const urlBefore = page.url();
  check(before.digest && before.digest !== '0', 'paths are drawn on the map');
  const status = await page.textContent('#status');
  check(/2 method\(s\)/.test(status), `the status reports the run: "${status}"`);

  // move Adam's lr slider with the keyboard, as a user would
  const lr = cards.nth(1).locator('input[type=range][data-name="lr"]');
  const lrBefore = await cards.nth(1).locator('.slider-row output').first().textContent();
  await lr.focus();
  for (let k = 0; k < 250; k++) await page.keyboard.press('ArrowRight');
  await settle();
  const after = await drawn();
  const lrAfter = await cards.nth(1).locator('.slider-row output').first().textContent();
  check(lrAfter !== lrBefore, `Adam's lr moved: ${lrBefore} → ${lrAfter}`);
  check(after.digest !== before.digest, `the drawn path changed (digest ${before.digest} → ${after.digest})`);
  check(after.pixels !== before.pixels, 'the map pixels changed');
  check(after.chart !== before.chart, 'the loss chart changed');
  check(page.url() !== urlBefore, 'the URL changed');
  const m = page.url().match(/m=Adam;lr=([^;&]+)/);
  check(m && Number(m[1]) === Number(lrAfter), `the URL holds Adam's new lr (${m && m[1]})`);
  await page.screenshot({ path: join(outDir, 'playground.png') });

  // the shared link restores the same drawing
  const shared = page.url();
  const page2 = await browser.newPage({ viewport: { width: 1480, height: 900 } });
  page2.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  await page2.goto(shared);
  await page2.waitForFunction(() => document.body.dataset.ready === '1' && document.body.dataset.pending === '0', null, { timeout: 20000 });
  const again = await page2.evaluate(() => document.getElementById('map').dataset.paths);
  check(again === after.digest, 'a shared URL draws the same paths');

  // click on the map: a new start point
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + box.width * 0.7, box.y + box.height * 0.3);
  await settle();
  check(!page.url().includes('x=-1.5,2'), `clicking the map moves the start (${page.url().match(/x=[^&]+/)})`);

  // a story on the scalar double well, then play the animation a little
  await page.selectOption('#story', { index: 3 });
  await settle();
  check(page.url().includes('f=double_well'), 'the SGD story loads the double well');
  await page.click('#play');
  await page.waitForTimeout(600);
  await page.click('#play');
  const k = await page.textContent('#frame-text');
  check(/^k = \d+ \/ \d+$/.test(k.trim()), `the animation shows the iteration (${k.trim()})`);
  await page.screenshot({ path: join(outDir, 'stories.png') });

  // the ill-conditioned quadratic with its condition-number slider
  await page.selectOption('#function', 'quadratic');
  await settle();
  const kappa = page.locator('#function-params input[type=range]').first();
  await kappa.focus();
  for (let j = 0; j < 100; j++) await page.keyboard.press('ArrowRight');
  await settle();
  check(/p\.kappa=/.test(page.url()), `κ in the URL (${page.url().match(/p\.kappa=[^&]+/)})`);

  // the runs & reports tab
  await page.click('.tab[data-tab="files"]');
  await page.click('#listing li:has-text("runs/")');
  await page.click('#listing li:has-text("demo/")');
  await page.click('#listing li:has-text("summary.json")');
  await page.waitForSelector('#preview pre');
  check((await page.textContent('#preview pre')).includes('"demo"'), 'the file browser shows runs/demo/summary.json');
  check(page.url().endsWith('#files'), 'the tab is in the URL');

  check(errors.length === 0, `no errors in the page${errors.length ? ': ' + errors.join('; ') : ''}`);
  console.log('browser test passed');
} finally {
  await browser.close();
}
