// Drives Debian's chromium with puppeteer-core through the viewer's pages:
//   node browser_test.js <base url> <screenshot dir>
// Exits non-zero, naming the step, when anything the user should see is missing.
'use strict';
const puppeteer = require('puppeteer-core');
const path = require('path');

const [base, outDir] = process.argv.slice(2);
const DD_SERVICE = 'viewer-dd', SHOP = 'viewer-shop';

function check(cond, what) {
  if (!cond) throw new Error('FAILED: ' + what);
  console.log('ok: ' + what);
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 900 });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const shot = (name) => page.screenshot({ path: path.join(outDir, name + '.png'), fullPage: true });
    const flameReady = () => page.waitForSelector('body[data-flame-ready="1"]', { timeout: 20000 });
    const topFunctions = () => page.$$eval('#top-table tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));

    // 1. The service picker and the flame graph of the dd-trace app.
    await page.goto(base + '/ui/', { waitUntil: 'load' });
    await flameReady();
    const services = await page.$$eval('#f-service option', (os) => os.map((o) => o.value));
    check(services.includes(DD_SERVICE) && services.includes(SHOP), 'service picker lists ' + services.join(', '));
    await page.evaluate(() => { document.body.dataset.flameReady = '0'; });
    await page.select('#f-service', DD_SERVICE);
    await flameReady();
    const type = await page.$eval('#f-type', (s) => s.value);
    check(type === 'wall' || type === 'cpu', 'type picker chose ' + type);
    let top = await topFunctions();
    check(top.slice(0, 10).includes('work'), "top functions of " + DD_SERVICE + " include the busy function 'work': " + top.slice(0, 10).join(' | '));
    const canvasHeight = await page.$eval('#flame-canvas', (c) => c.height);
    check(canvasHeight > 40, 'the flame graph is drawn (' + canvasHeight + ' px high)');
    await shot('1-flamegraph');

    // 2. Zoom: a real click on the frame of 'work'.
    const rect = await page.evaluate(() => window.viewer.flame.frameRect('work'));
    check(rect !== null, "a frame 'work' is drawn");
    const box = await (await page.$('#flame-canvas')).boundingBox();
    await page.mouse.move(box.x + rect.x + rect.w / 2, box.y + rect.y + rect.h / 2);
    await page.waitForSelector('#tooltip:not([hidden])', { timeout: 5000 });
    const tip = await page.$eval('#tooltip', (t) => t.textContent);
    check(/^work\ntotal .+\nself /.test(tip), 'hover shows total and self with units: ' + tip.replace(/\n/g, ' / '));
    await page.mouse.click(box.x + rect.x + rect.w / 2, box.y + rect.y + rect.h / 2);
    const zoomed = await page.evaluate(() => window.viewer.flame.zoomed.n);
    check(zoomed === 'work', 'click zooms into work');
    const crumb = await page.$eval('#breadcrumb', (b) => b.textContent);
    check(crumb.endsWith('work'), 'breadcrumb shows ' + crumb);
    const zoomedRect = await page.evaluate(() => window.viewer.flame.frameRect('work'));
    check(zoomedRect && zoomedRect.w > box.width * 0.95, 'the zoomed frame fills the width');
    await shot('2-zoomed');

    // 3. Search highlights frames.
    await page.click('#f-reset');
    await page.type('#f-search', 'work');
    const info = await page.$eval('#search-info', (s) => s.textContent);
    check(/^[1-9]\d* matching frames/.test(info), 'search finds frames: ' + info);
    const purple = await page.evaluate((r) => {
      const c = document.getElementById('flame-canvas');
      const ratio = window.devicePixelRatio || 1;
      const d = c.getContext('2d').getImageData(Math.floor((r.x + 2) * ratio), Math.floor((r.y + 2) * ratio), 1, 1).data;
      return [d[0], d[1], d[2]];
    }, await page.evaluate(() => window.viewer.flame.frameRect('work')));
    check(purple[0] === 0xb6 && purple[1] === 0x3d && purple[2] === 0xe0, 'matching frame is highlighted ' + purple);
    await shot('3-search');

    // 4. The diff view against the previous window.
    await page.evaluate(() => { document.body.dataset.flameReady = '0'; });
    await page.click('#f-diff');
    await page.click('#f-go');
    await flameReady();
    const diffStatus = await page.$eval('#flame-status', (s) => s.textContent);
    check(/baseline/.test(diffStatus), 'diff view: ' + diffStatus);
    await shot('4-diff');

    // 5. The Pyroscope-profiled service.
    await page.evaluate(() => { document.body.dataset.flameReady = '0'; });
    await page.select('#f-service', SHOP);
    await flameReady();
    top = await topFunctions();
    const shopType = await page.$eval('#f-type', (s) => s.value);
    const shopTypes = await page.$$eval('#f-type option', (os) => os.map((o) => o.value));
    check(top.some((n) => n.includes('burnCpu')), SHOP + " top functions (" + shopType + " of " + shopTypes.join('/') + ") include 'burnCpu': " + top.slice(0, 8).join(' | '));

    // 6. The trace list and the waterfall of /up → /down.
    await page.goto(base + '/ui/#traces?service=' + SHOP, { waitUntil: 'load' });
    await page.waitForSelector('#traces-table tbody tr[data-resource="/up"]', { timeout: 15000 });
    await shot('5-traces');
    await page.click('#traces-table tbody tr[data-resource="/up"]');
    await page.waitForSelector('body[data-trace-ready="1"]', { timeout: 15000 });
    const rows = await page.$$eval('#waterfall .span-row', (rs) =>
      rs.map((r) => ({ id: r.dataset.spanId, depth: Number(r.dataset.depth), resource: r.dataset.resource })));
    const up = rows.find((r) => r.resource === '/up');
    const down = rows.find((r) => r.resource === '/down');
    check(up && down, 'waterfall has the /up and /down spans: ' + rows.map((r) => r.resource + '@' + r.depth).join(', '));
    check(down.depth > up.depth && rows.indexOf(down) > rows.indexOf(up), '/down is nested under /up');
    const bars = await page.$$eval('#waterfall .span-bar', (bs) => bs.filter((b) => b.getBoundingClientRect().width >= 1).length);
    check(bars === rows.length, 'every span has a bar');
    await page.click(`#waterfall .span-row[data-span-id="${down.id}"]`);
    await page.waitForSelector('#span-detail:not([hidden])');
    const detail = await page.$eval('#span-detail', (d) => d.textContent);
    check(detail.includes('span id') && detail.includes(down.id) && detail.includes('service'), 'span details show its tags');
    await shot('6-waterfall');

    // 7. From the span to the profiles of its service around it.
    await page.evaluate(() => { document.body.dataset.flameReady = '0'; });
    await page.click('#span-profiles-link');
    await flameReady();
    const linked = await page.evaluate(() => ({
      service: document.getElementById('f-service').value,
      host: document.getElementById('f-host').value,
      total: window.viewer.flame.root ? window.viewer.flame.root.v : 0,
      hash: location.hash,
    }));
    check(linked.service === SHOP && linked.total > 0, 'the span links to a flame graph of ' + SHOP + ' (' + linked.hash + ')');
    top = await topFunctions();
    check(top.some((n) => n.includes('burnCpu')), "…which shows 'burnCpu'");
    await shot('7-span-profiles');
    check(errors.length === 0, 'no script errors on the page ' + errors.join('; '));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
