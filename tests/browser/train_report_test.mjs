// Browser test of `osprey train`'s HTML report: trains the four algorithms (linear learner binary
// classifier, xgboost regression, k-means, PCA) on small generated CSV files with the real
// binary, opens each published registry/<name>/1/report.html from file:// in Debian's chromium
// (headless, driven by playwright-core), offline, with every request recorded and any request
// other than the file itself aborted, and checks for each report:
//   - no console error, no page error, no request other than the file's own;
//   - the task's sections are there and visible, and it has the task's number of charts;
//   - every chart (<svg>) is rendered with a non-zero box, holds drawn marks (lines, points, bars
//     in the series' colours inside the plot frame), its screenshot has coloured pixels inside
//     the frame, and no text of it is empty or a negative zero ("-0");
//   - every metric cell shows metadata.json's value as the report prints it (%g, 6 significant
//     digits), and there is a cell for every metric of metadata.json.
// A control page with an external image first proves that the request recorder sees requests.
// Saves a full-page screenshot per report (report-<name>.png).
//
// Usage (run_browser_test.sh passes --modules and --workdir):
//   node train_report_test.mjs --osprey PATH --modules DIR --workdir DIR --screenshots DIR
// Exit 0 = passed, 1 = failed.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { CHROMIUM, CHROMIUM_FLAGS, parseArgs } from './common.mjs';


function log(...parts) { console.log('[train_report_browser]', ...parts); }

// ---------------------------------------------------------------------------------------------
// Data: seeded, so every run trains the same models.

function gaussian(seed) {
  let state = seed >>> 0;
  const uniform = () => {  // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

// Label first, no header (SageMaker's layout): y = 1 when a - 0.5 b + noise > 0.
function binaryCsv(rows) {
  const g = gaussian(11);
  const lines = [];
  for (let row = 0; row < rows; row += 1) {
    const a = g(), b = g();
    lines.push([a - 0.5 * b + 0.8 * g() > 0 ? 1 : 0, a.toFixed(6), b.toFixed(6)].join(','));
  }
  return lines.join('\n') + '\n';
}

// Header a,b,c,y: y = 2a - b + noise.
function regressionCsv(rows) {
  const g = gaussian(12);
  const lines = ['a,b,c,y'];
  for (let row = 0; row < rows; row += 1) {
    const a = g(), b = g(), c = g();
    lines.push([a, b, c, 2 * a - b + 0.3 * g()].map((v) => v.toFixed(6)).join(','));
  }
  return lines.join('\n') + '\n';
}

// Header u,v,w: three blobs.
function clustersCsv(rows) {
  const g = gaussian(13);
  const centres = [[0, 0, 0], [8, 0, 4], [0, 8, -4]];
  const lines = ['u,v,w'];
  for (let row = 0; row < rows; row += 1) {
    const c = centres[row % 3];
    lines.push(c.map((v) => (v + g()).toFixed(6)).join(','));
  }
  return lines.join('\n') + '\n';
}

// Each model: its configuration, the sections its report must have, and its number of charts.
const MODELS = [
  { name: 'lin', charts: 3, sections: ['summary', 'metrics', 'roc-pr', 'confusion', 'learning-curve'],
    yaml: 'data: {path: binary.csv}\nalgorithm: linear_learner\n' +
          'hyperparameters: {predictor_type: binary_classifier, epochs: 10}\n' },
  { name: 'xgb', charts: 3, sections: ['summary', 'metrics', 'residuals', 'learning-curve'],
    yaml: 'data: {path: regression.csv, header: true, label: y}\nalgorithm: xgboost\n' +
          'hyperparameters: {objective: "reg:squarederror", num_round: 20, nthread: 1}\n' },
  { name: 'km', charts: 3, sections: ['summary', 'metrics', 'inertia-curve', 'clusters'],
    yaml: 'data: {path: clusters.csv, header: true}\nalgorithm: kmeans\nhyperparameters: {k: 3}\n' },
  { name: 'pca', charts: 1, sections: ['summary', 'metrics', 'explained-variance'],
    yaml: 'data: {path: clusters.csv, header: true}\nalgorithm: pca\n' +
          'hyperparameters: {num_components: 2}\n' },
];

// ---------------------------------------------------------------------------------------------
// Checks.

// C's printf("%g") with 6 significant digits, as the report prints numbers (std::setprecision(6)).
function formatG6(value) {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const strip = (s) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  const [mantissa, exponentText] = value.toExponential(5).split('e');
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 6) {
    return strip(mantissa) + 'e' + (exponent < 0 ? '-' : '+') + String(Math.abs(exponent)).padStart(2, '0');
  }
  return strip(value.toFixed(5 - exponent));
}

// Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what chromium's screenshots are).
function decodePng(buffer) {
  let offset = 8;
  let width = 0, height = 0, channels = 0;
  const idat = [];
  while (offset < buffer.length) {
    const length = buffer.readUInt32BE(offset);
    const type = buffer.toString('latin1', offset + 4, offset + 8);
    const data = buffer.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colour, , , interlace] = data.subarray(8, 13);
      channels = { 2: 3, 6: 4 }[colour];
      if (depth !== 8 || !channels || interlace !== 0) throw new Error('unsupported PNG ' + [depth, colour, interlace]);
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    offset += 12 + length;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y += 1) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x += 1) {
      const left = x >= channels ? pixels[y * stride + x - channels] : 0;
      const up = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const upLeft = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      let predictor = 0;
      if (filter === 1) predictor = left;
      else if (filter === 2) predictor = up;
      else if (filter === 3) predictor = (left + up) >> 1;
      else if (filter === 4) {
        const p = left + up - upLeft;
        const pa = Math.abs(p - left), pb = Math.abs(p - up), pc = Math.abs(p - upLeft);
        predictor = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      }
      pixels[y * stride + x] = (line[x] + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

// Pixels inside `rect` (screenshot coordinates) whose colour is clearly not a grey: the series'
// colours (the frame, grid, ticks and text are greys).
function colouredPixels(png, rect) {
  let count = 0;
  for (let y = Math.max(0, Math.ceil(rect.y)); y < Math.min(png.height, Math.floor(rect.y + rect.height)); y += 1) {
    for (let x = Math.max(0, Math.ceil(rect.x)); x < Math.min(png.width, Math.floor(rect.x + rect.width)); x += 1) {
      const at = (y * png.width + x) * png.channels;
      const [r, g, b] = [png.pixels[at], png.pixels[at + 1], png.pixels[at + 2]];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 40) count += 1;
    }
  }
  return count;
}

// Runs in the page: the sections, the charts with their drawn marks, and the metric cells.
function inspectReport() {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  };
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  const coloured = (css) => {
    const m = /rgba?\((\d+), (\d+), (\d+)/.exec(css);
    return m !== null && Math.max(+m[1], +m[2], +m[3]) - Math.min(+m[1], +m[2], +m[3]) > 40;
  };
  const sections = [...document.querySelectorAll('section')].map((s) => ({ id: s.id, shown: shown(s) }));
  const charts = [...document.querySelectorAll('svg')].map((svg) => {
    const frame = svg.querySelector('rect');  // the plot area, drawn first
    const f = frame ? frame.getBBox() : { x: 0, y: 0, width: 0, height: 0 };
    const inFrame = (b) => {
      const cx = b.x + b.width / 2, cy = b.y + b.height / 2;
      return cx >= f.x && cx <= f.x + f.width && cy >= f.y && cy <= f.y + f.height;
    };
    const marks = {};
    for (const el of svg.querySelectorAll('polyline, path, circle, rect, line, polygon, ellipse')) {
      const style = getComputedStyle(el);
      if (style.display === 'none' || style.visibility === 'hidden') continue;
      if (!coloured(style.fill) && !coloured(style.stroke)) continue;
      const b = el.getBBox();
      if (b.width <= 0 && b.height <= 0) continue;
      if (!inFrame(b)) continue;  // the legend's swatches sit above the frame
      marks[el.tagName] = (marks[el.tagName] || 0) + 1;
    }
    // Tick labels and titles: none empty, none a negative zero.
    const badTexts = [...svg.querySelectorAll('text')].map((t) => t.textContent)
      .filter((t) => t.trim() === '' || /^-0(\.0*)?$/.test(t.trim()));
    const frameBox = frame ? box(frame) : null;
    const svgBox = box(svg);
    return {
      label: svg.getAttribute('aria-label'),
      box: svgBox,
      shown: shown(svg),
      // The frame inside the chart's own screenshot (which is clipped to the chart's box).
      frame: frameBox && { x: frameBox.x - svgBox.x, y: frameBox.y - svgBox.y,
                           width: frameBox.width, height: frameBox.height },
      marks,
      badTexts,
    };
  });
  const metrics = [...document.querySelectorAll('td[data-metric]')].map((td) => ({
    split: td.dataset.split, metric: td.dataset.metric, text: td.innerText.trim(), shown: shown(td),
  }));
  return { sections, charts, metrics };
}

async function checkReport(context, model, reportPath, metadata, screenshotPath) {
  const problems = [];
  const page = await context.newPage();
  const fileUrl = pathToFileURL(reportPath).href;
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (err) => problems.push('page error: ' + err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push('console error: ' + msg.text()); });
  const response = await page.goto(fileUrl, { waitUntil: 'load' });
  if (response && !response.ok()) problems.push('loading the file answered ' + response.status());
  await page.evaluate(() => document.fonts.ready);

  const others = requests.filter((url) => url !== fileUrl);
  if (others.length > 0) problems.push('requests other than the file: ' + JSON.stringify(others.slice(0, 5)));

  const found = await page.evaluate(inspectReport);
  const ids = found.sections.map((s) => s.id);
  if (JSON.stringify([...ids].sort()) !== JSON.stringify([...model.sections].sort())) {
    problems.push('sections ' + JSON.stringify(ids) + ', expected ' + JSON.stringify(model.sections));
  }
  for (const s of found.sections) if (!s.shown) problems.push('section ' + s.id + ' is not shown');

  if (found.charts.length !== model.charts) {
    problems.push(found.charts.length + ' charts, expected ' + model.charts);
  }
  const svgHandles = await page.$$('svg');
  const drawn = [];
  for (let idx = 0; idx < found.charts.length; idx += 1) {
    const chart = found.charts[idx];
    const name = 'chart ' + idx + ' (' + chart.label + ')';
    if (!chart.shown || chart.box.width <= 0 || chart.box.height <= 0) {
      problems.push(name + ' is not rendered: box ' + JSON.stringify(chart.box));
      continue;
    }
    if (chart.badTexts.length > 0) problems.push(name + ' has text ' + JSON.stringify(chart.badTexts));
    const markCount = Object.values(chart.marks).reduce((a, b) => a + b, 0);
    if (markCount === 0) problems.push(name + ' has no drawn marks inside its frame');
    if (!chart.frame) {
      problems.push(name + ' has no plot frame');
      continue;
    }
    const png = decodePng(await svgHandles[idx].screenshot());
    const pixels = colouredPixels(png, chart.frame);
    if (pixels < 20) problems.push(name + ': only ' + pixels + ' coloured pixels inside the frame');
    drawn.push(chart.label + ' ' + JSON.stringify(chart.marks) + ' ' + pixels + 'px');
  }

  // Every metric of metadata.json shown as the report prints it, and no other.
  const expected = new Map();
  for (const split of ['validation', 'test']) {
    for (const [metric, value] of Object.entries((metadata.metrics || {})[split] || {})) {
      expected.set(split + '/' + metric, typeof value === 'number' ? formatG6(value) : String(value));
    }
  }
  if (expected.size === 0) problems.push('metadata.json has no metrics');
  const seen = new Set();
  for (const cell of found.metrics) {
    const key = cell.split + '/' + cell.metric;
    if (!cell.shown) problems.push('metric cell ' + key + ' is not shown');
    if (expected.has(key)) {
      seen.add(key);
      if (cell.text !== expected.get(key)) {
        problems.push('metric ' + key + ': page shows ' + JSON.stringify(cell.text) + ', metadata.json ' +
                      JSON.stringify(expected.get(key)));
      }
    } else if (cell.text !== '-') {
      problems.push('metric ' + key + ' = ' + JSON.stringify(cell.text) + ' is not in metadata.json');
    }
  }
  for (const key of expected.keys()) if (!seen.has(key)) problems.push('metric ' + key + ' is not in the page');

  await page.screenshot({ path: screenshotPath, fullPage: true });
  await page.close();
  if (problems.length > 0) throw new Error(model.name + ' (' + reportPath + '):\n  ' + problems.join('\n  '));
  log(model.name + ':', found.sections.length, 'sections,', expected.size, 'metrics shown as in metadata.json;',
      'charts:', drawn.join('; '), '->', screenshotPath);
}

// The recorder must see a request the page makes: a control page with an external image.
async function checkRecorderSeesRequests(context, workdir) {
  const control = path.join(workdir, 'control.html');
  writeFileSync(control, '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png"></body></html>\n');
  const page = await context.newPage();
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(pathToFileURL(control).href, { waitUntil: 'load' });
  await page.close();
  if (!requests.includes('http://127.0.0.1:9/x.png')) {
    throw new Error('the request recorder missed the control page\'s image: ' + JSON.stringify(requests));
  }
}

async function main() {
  const args = parseArgs(process.argv, ['osprey', 'modules', 'workdir', 'screenshots']);
  const require = createRequire(path.join(args.modules, 'noop.js'));
  const { chromium } = require('playwright-core');

  mkdirSync(args.workdir, { recursive: true });
  mkdirSync(args.screenshots, { recursive: true });
  writeFileSync(path.join(args.workdir, 'binary.csv'), binaryCsv(600));
  writeFileSync(path.join(args.workdir, 'regression.csv'), regressionCsv(600));
  writeFileSync(path.join(args.workdir, 'clusters.csv'), clustersCsv(600));
  for (const model of MODELS) {
    writeFileSync(path.join(args.workdir, model.name + '.yaml'),
                  'name: ' + model.name + '\nregistry: ./registry\n' + model.yaml);
    const run = spawnSync(args.osprey, ['train', '--config', model.name + '.yaml'],
                          { cwd: args.workdir, encoding: 'utf8', timeout: 120000 });
    if (run.status !== 0) {
      throw new Error('osprey train ' + model.name + ' exited ' + (run.status ?? run.signal) + ':\n' +
                      run.stdout + run.stderr);
    }
    log('trained', model.name);
  }

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    await context.setOffline(true);
    // Nothing from the network: any request that is not a local file is aborted (every request
    // is also recorded by the page's listener, and any but the report's own fails the test).
    await context.route('**/*', (route) =>
      (route.request().url().startsWith('file:') ? route.continue() : route.abort('blockedbyclient')));
    await checkRecorderSeesRequests(context, args.workdir);
    for (const model of MODELS) {
      const dir = path.join(args.workdir, 'registry', model.name, '1');
      const metadata = JSON.parse(readFileSync(path.join(dir, 'metadata.json'), 'utf8'));
      await checkReport(context, model, path.join(dir, 'report.html'), metadata,
                        path.join(args.screenshots, 'report-' + model.name + '.png'));
    }
  } finally {
    await browser.close();
  }
  log('passed');
}

main().then(() => process.exit(0), (err) => {
  console.error('[train_report_browser] FAILED:', err && err.stack ? err.stack : err);
  process.exit(1);
});
