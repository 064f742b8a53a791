// Launches N browsers the way whatsapp-web.js launches its one browser per client, so the sessions
// bench can measure them beside ours in the same run. whatsapp-web.js calls
// puppeteer.launch({headless: true, defaultViewport: null, args: [...userArgs, `--user-agent=${ua}`]})
// with a userDataDir per client (LocalAuth) and uses the first page. As root, users add
// --no-sandbox, as every container deployment of it does.
//
// usage: node baseline.mjs --chromium PATH --url URL --count N --profiles DIR
// Prints one JSON line {"pids": [...]} once every page has loaded, then waits for a line on
// stdin (or stdin closing) and closes every browser.
import puppeteer from 'puppeteer-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const count = Number(args.count ?? 1);
// whatsapp-web.js's default user agent (src/util/Constants.js DefaultOptions.userAgent).
const userAgent =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/101.0.4951.67 Safari/537.36';

const browsers = [];
async function closeAll() {
  await Promise.allSettled(browsers.map((b) => b.close()));
}
process.on('SIGTERM', () => closeAll().then(() => process.exit(0)));

try {
  for (let i = 0; i < count; i++) {
    const userDataDir = join(args.profiles, `baseline-${i}`);
    mkdirSync(userDataDir, { recursive: true });
    const browser = await puppeteer.launch({
      executablePath: args.chromium,
      headless: true,
      defaultViewport: null,
      userDataDir,
      args: ['--no-sandbox', `--user-agent=${userAgent}`],
    });
    browsers.push(browser);
    const [page] = await browser.pages();
    await page.setUserAgent(userAgent);
    await page.goto(args.url, { waitUntil: 'load', timeout: 30000 });
  }
  console.log(JSON.stringify({ pids: browsers.map((b) => b.process().pid) }));
  const rl = createInterface({ input: process.stdin });
  await new Promise((resolve) => {
    rl.once('line', resolve);
    rl.once('close', resolve);
  });
} finally {
  await closeAll();
}
