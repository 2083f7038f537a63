// Browser test of the dashboard: starts ospreyd on the quickstart configuration (embedded
// broker, demo stream with planted anomalies, baseline + RCF pipelines) on a free port, opens
// http://127.0.0.1:PORT/ in Debian's chromium driven headless by playwright-core, and checks
// that the pipeline list shows both pipelines and their keys, that the chart of the chosen key
// has drawn (its canvases hold non-background pixels and it has points), that an alert row
// appears, and that a 401 brings up the token form whose token is then sent. Saves a screenshot.
//
// Usage (run_browser_test.sh passes these):
//   node dashboard_test.mjs --ospreyd PATH --config PATH --modules DIR --workdir DIR --screenshot PATH
// Exit 0 = passed, 1 = failed.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CHROMIUM, CHROMIUM_FLAGS, parseArgs } from './common.mjs';


function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await sleep(250);
  }
  throw new Error('timed out after ' + timeoutMs + ' ms waiting for ' + what + (last ? ' (last: ' + last + ')' : ''));
}

function log(...parts) { console.log('[dashboard_browser]', ...parts); }

async function main() {
  const args = parseArgs(process.argv, ['ospreyd', 'config', 'modules', 'workdir', 'screenshot']);
  const require = createRequire(path.join(args.modules, 'noop.js'));
  const { chromium } = require('playwright-core');

  mkdirSync(args.workdir, { recursive: true });
  const port = await freePort();
  const yaml = readFileSync(args.config, 'utf8')
    .replace(/127\.0\.0\.1:8080/g, '127.0.0.1:' + port)
    .replace(/dir: \/tmp\/osprey-quickstart-state/, 'dir: ' + path.join(args.workdir, 'state'));
  if (!yaml.includes('127.0.0.1:' + port)) throw new Error('could not set the HTTP port in ' + args.config);
  const configPath = path.join(args.workdir, 'dashboard.yaml');
  writeFileSync(configPath, yaml);

  let daemonOutput = '';
  const daemon = spawn(args.ospreyd, ['--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stdout.on('data', (chunk) => { daemonOutput += chunk; });
  daemon.stderr.on('data', (chunk) => { daemonOutput += chunk; });
  let daemonExit = null;
  daemon.on('exit', (code, signal) => { daemonExit = code ?? signal; });

  const base = 'http://127.0.0.1:' + port;
  let browser;
  const pageErrors = [];
  try {
    await waitFor('ospreyd to be ready', 30000, async () => {
      if (daemonExit !== null) throw new Error('ospreyd exited: ' + daemonExit);
      const r = await fetch(base + '/readyz');
      return r.status === 200;
    });
    log('ospreyd ready on', base);

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push('page error: ' + err.message));
    page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push('console: ' + msg.text()); });
    page.on('response', (r) => { if (r.status() >= 400) pageErrors.push('HTTP ' + r.status() + ' for ' + r.url()); });

    const response = await page.goto(base + '/', { waitUntil: 'load' });
    if (response.status() !== 200) throw new Error('GET / answered ' + response.status());

    // The pipeline list: both pipelines of the quickstart, with the demo's keys.
    await page.waitForSelector('.pipeline-name', { timeout: 15000 });
    const names = await page.$$eval('.pipeline-name', (els) => els.map((e) => e.textContent));
    for (const expected of ['baseline', 'rcf']) {
      if (!names.includes(expected)) throw new Error('pipeline list ' + JSON.stringify(names) + ' lacks ' + expected);
    }
    await page.waitForSelector('.keys button[data-key="host-00"]', { timeout: 15000 });
    log('pipelines listed:', names.join(', '));

    // Choose an RCF key: its chart has values, score and grade.
    await page.click('.keys button[data-pipeline="rcf"][data-key="host-01"]');
    await waitFor('the chart of rcf/host-01 to have points', 30000, () =>
      page.evaluate(() => window.osprey.selected && window.osprey.selected.key === 'host-01' &&
                          window.osprey.data && window.osprey.data.t.length >= 20));
    // Drawn: each chart's canvas has many pixels that are not the (transparent) background.
    const drawn = await waitFor('the chart canvases to be drawn', 10000, () => page.evaluate(() => {
      const counts = [...document.querySelectorAll('.chart canvas')].map((canvas) => {
        const ctx = canvas.getContext('2d');
        const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
        let painted = 0;
        for (let idx = 3; idx < data.length; idx += 4) if (data[idx] !== 0) painted += 1;
        return painted;
      });
      return counts.length === 2 && counts.every((n) => n > 500) ? counts : false;
    }));
    const title = await page.textContent('#chart-title');
    if (title !== 'rcf / host-01') throw new Error('chart title is ' + JSON.stringify(title));
    log('chart drawn, painted pixels per canvas:', drawn.join(', '));

    // An alert arrives over the WebSocket and shows as a row with its pipeline, key and score.
    await page.waitForSelector('#alerts tbody tr.alert-row', { timeout: 60000 });
    const row = await page.$$eval('#alerts tbody tr.alert-row', (rows) =>
      [...rows[0].cells].map((c) => c.textContent));
    if (!['baseline', 'rcf'].includes(row[1]) || !/^host-\d\d$/.test(row[2]) || !/\d/.test(row[3])) {
      throw new Error('unexpected alert row ' + JSON.stringify(row));
    }
    log('alert row:', JSON.stringify(row));
    await sleep(1500);  // let a few more points and alerts arrive for a representative picture
    await page.screenshot({ path: args.screenshot, fullPage: true });
    log('screenshot saved to', args.screenshot);

    // A 401 on the data route brings up the token form; the token entered is then sent as a
    // bearer token (the server here has no tokens, so the refusal is simulated in the browser).
    const authPage = await context.newPage();
    authPage.on('pageerror', (err) => pageErrors.push('page error (auth): ' + err.message));
    const seenAuthorization = [];
    await authPage.route('**/v1/pipelines', async (route) => {
      const header = route.request().headers().authorization;
      seenAuthorization.push(header || '');
      if (header !== 'Bearer test-token-0123456789') {
        await route.fulfill({ status: 401, contentType: 'application/json',
                              body: '{"error":{"code":401,"message":"token required"}}' });
      } else {
        await route.continue();
      }
    });
    await authPage.goto(base + '/', { waitUntil: 'load' });
    await authPage.waitForSelector('#token-dialog[open]', { timeout: 10000 });
    await authPage.fill('#token-input', 'test-token-0123456789');
    await authPage.click('#token-save');
    await authPage.waitForSelector('.pipeline-name', { timeout: 10000 });
    const stored = await authPage.evaluate(() => localStorage.getItem('osprey.token'));
    if (stored !== 'test-token-0123456789') throw new Error('token not kept in localStorage: ' + stored);
    if (!seenAuthorization.includes('Bearer test-token-0123456789')) {
      throw new Error('the token was not sent: ' + JSON.stringify(seenAuthorization));
    }
    log('token form: 401 -> form -> token kept and sent');

    if (pageErrors.length > 0) throw new Error('errors in the page:\n' + pageErrors.join('\n'));
  } finally {
    if (browser) await browser.close();
    daemon.kill('SIGTERM');
    const deadline = Date.now() + 15000;
    while (daemonExit === null && Date.now() < deadline) await sleep(100);
    if (daemonExit === null) daemon.kill('SIGKILL');
  }
  if (daemonExit !== 0) {
    throw new Error('ospreyd did not exit 0 on SIGTERM: ' + daemonExit + '\n' + daemonOutput.slice(-4000));
  }
  log('passed');
}

main().then(() => process.exit(0), (err) => {
  console.error('[dashboard_browser] FAILED:', err && err.stack ? err.stack : err);
  process.exit(1);
});
