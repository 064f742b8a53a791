// The admin's browser in the live tests: headless Chromium (Debian's) driven by puppeteer-core.
// Usage: node admin-page.mjs <app url> <workspace> <session> <output dir> <profile dir>
// (puppeteer starts Chromium in its own process group: the caller kills what is left under the
// profile dir if this script is killed)
// Opens the admin page as alice (admin of the workspace) and as bob (admin of another one), then
// prints one line per step on stdout for the PHPUnit test:
//   READY                  alice's page subscribed to the workspace channel, bob's was refused
//   QR <text>              the QR shown on alice's page, read back from a screenshot with jsQR
//                          (the phone's camera); the screenshot is kept in the output dir
//   CONNECTED              alice's page says the session is connected
//   FAIL <why>             anything else (then exit 1)
import puppeteer from 'puppeteer-core';
import jsQR from 'jsqr';
import { writeFileSync } from 'node:fs';

const [appUrl, workspace, session, outDir, profileDir] = process.argv.slice(2);
const chromium = process.env.WA_CHROMIUM || '/usr/lib/chromium/chromium';
const say = (line) => process.stdout.write(line + '\n');
let browser;

async function openAs(token) {
  const page = await browser.newPage();
  page.on('console', (m) => process.stderr.write(`[${token} console] ${m.text()}\n`));
  page.on('pageerror', (e) => process.stderr.write(`[${token} error] ${e.message}\n`));
  await page.goto(`${appUrl}/admin/${workspace}/${session}?token=${token}`, { waitUntil: 'load', timeout: 20000 });
  return page;
}

// The QR as the camera sees it: a screenshot of the QR on the page (kept in the output dir),
// its pixels decoded back inside the page (the browser is the PNG decoder), then jsQR.
async function readQr(page) {
  await page.screenshot({ path: `${outDir}/admin-qr.png` });
  const png = await (await page.$('#whatsapp-link [data-wa-qr]')).screenshot({ type: 'png' });
  const { width, height, pixels } = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, c.width, c.height).data;
    let bin = '';
    for (let i = 0; i < data.length; i += 0x8000) bin += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
    return { width: c.width, height: c.height, pixels: btoa(bin) };
  }, Buffer.from(png).toString('base64'));
  const found = jsQR(new Uint8ClampedArray(Buffer.from(pixels, 'base64')), width, height);
  if (!found) throw new Error('no QR code in the screenshot');
  return found.data;
}

try {
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'],
    userDataDir: profileDir,
    defaultViewport: { width: 800, height: 900 },
  });
  const alice = await openAs('alice-token');
  const bob = await openAs('bob-token');
  const root = '#whatsapp-link';
  await alice.waitForSelector(`${root}[data-channel="subscribed"]`, { timeout: 20000 });
  await bob.waitForSelector(`${root}[data-channel="refused"]`, { timeout: 20000 });
  const bobText = await bob.$eval(root, (el) => el.textContent);
  if (!/may not/.test(bobText)) throw new Error(`bob's page says ${bobText}`);
  await bob.close();
  // A background tab is not painted, and its screenshots wait for a frame.
  await alice.bringToFront();
  say('READY');

  await alice.waitForSelector(`${root} [data-wa-qr] svg`, { timeout: 60000 });
  say('QR ' + (await readQr(alice)));

  await alice.waitForSelector(`${root}[data-state="connected"]`, { timeout: 60000 });
  await alice.screenshot({ path: `${outDir}/admin-connected.png` });
  const text = await alice.$eval(root, (el) => el.textContent);
  say('CONNECTED ' + text.trim());
  await browser.close();
  process.exit(0);
} catch (e) {
  say('FAIL ' + (e && e.message ? e.message : String(e)).replace(/\n/g, ' '));
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}
