// Drives the log's web view in headless Chromium (Debian's, through playwright-core)
// and prints what the pages showed as one JSON object; tests/http.rs asserts on it.
//
//   node web.mjs <log url> <dir>
//
// <dir> holds receipt.json, inclusion.json and the tampered variants the test wrote;
// screenshots go there too (a temporary directory: never the repo, never CI output).
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [url, dir] = process.argv.slice(2);
const read = (name) => readFileSync(join(dir, name), 'utf8');

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const out = {};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Anything the page tries to load from elsewhere would show up here.
  const foreign = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(url)) foreign.push(r.url());
  });

  const settle = async (states) =>
    page.waitForFunction(
      (s) => s.includes(document.getElementById('status')?.dataset.state),
      states,
      { timeout: 30000 },
    );

  // The overview.
  await page.goto(url + '/');
  await settle(['done', 'error']);
  out.overview = await page.evaluate(() => {
    const rows = (id) => Array.from(document.querySelectorAll(`#${id} tr`)).slice(1);
    const state = (tr) => tr.querySelector('.state [data-state]')?.dataset.state;
    return {
      status: document.getElementById('status').dataset.state,
      statusText: document.getElementById('status').textContent,
      treeSize: document.getElementById('tree-size')?.textContent,
      recent: rows('recent-table').map((tr) => ({
        index: Number(tr.dataset.index),
        type: tr.dataset.type,
        mode: tr.children[2].textContent,
        state: state(tr),
      })),
      measurements: rows('measurements').map((tr) => tr.textContent),
      resources: rows('resources').map((tr) => tr.textContent),
      models: rows('models-table').map((tr) => ({ name: tr.children[1].textContent, state: state(tr) })),
      history: rows('history-table').map((tr) => ({ size: tr.dataset.size, state: state(tr) })),
      audit: rows('audit-table').map((tr) => ({ len: tr.children[1].textContent, state: state(tr) })),
      injected: document.querySelectorAll('main img, main script').length,
      pwned: window.__pwned === 1,
    };
  });
  await page.screenshot({ path: join(dir, 'overview.png'), fullPage: true });

  // The verify page: a good receipt, then each tampering.
  const verify = async (receipt, inclusion) => {
    await page.goto(url + '/verify');
    await settle(['ready', 'error']);
    await page.fill('#receipt', receipt);
    await page.fill('#inclusion', inclusion);
    await page.click('#verify');
    await settle(['ok', 'fail']);
    return page.evaluate(() => ({
      status: document.getElementById('status').dataset.state,
      checks: Object.fromEntries(
        Array.from(document.querySelectorAll('#checks li')).map((li) => [
          li.dataset.check,
          li.querySelector('[data-state]')?.dataset.state,
        ]),
      ),
      text: document.getElementById('checks').textContent,
    }));
  };
  out.good = await verify(read('receipt.json'), read('inclusion.json'));
  await page.screenshot({ path: join(dir, 'verify.png'), fullPage: true });
  out.tamperedReceipt = await verify(read('tampered-receipt.json'), read('inclusion.json'));
  out.tamperedProof = await verify(read('receipt.json'), read('tampered-inclusion.json'));
  out.otherReceipt = await verify(read('other-receipt.json'), read('inclusion.json'));
  out.forgedCheckpoint = await verify(read('receipt.json'), read('forged-inclusion.json'));

  // A reader who pinned another key sees the server's checkpoint refused.
  await page.goto(url + '/');
  await page.evaluate((k) => localStorage.setItem('veil.log.key', k), read('other-key.txt').trim());
  await page.goto(url + '/');
  await settle(['done', 'error']);
  out.wrongKey = await page.evaluate(() => ({
    status: document.getElementById('status').dataset.state,
    text: document.getElementById('status').textContent,
    mismatch: !!document.getElementById('key-mismatch'),
  }));
  out.errors = errors;
  out.foreign = foreign;
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');
