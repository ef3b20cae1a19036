// The page's check (/?check) in headless Chromium: the golden preprocessing vectors of
// tests/golden/, then the validation examples of web.json: encoded to the same arrays as
// Python, and ONNX Runtime Web's outputs within the export tolerance of the Python model's.
// Prints each check and the inference time per example; exits 1 on a failure.
//   node web/test.mjs runs/baseline/export     (CHROMIUM=/path/to/chromium to choose the binary)
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium } from 'playwright-core';
import { problem, serve } from './serve.mjs';

const BROWSERS = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
const TIMEOUT_MS = 180_000;

function findChromium() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of BROWSERS) {
      try {
        accessSync(join(folder, name), constants.X_OK);
        return join(folder, name);
      } catch {}
    }
  }
  return undefined;
}

const modelDir = process.argv[2];
const executablePath = findChromium();
const reason = modelDir ? problem(modelDir) : 'usage: node web/test.mjs EXPORT_DIR';
if (reason || !executablePath) {
  console.error(`error: ${reason ?? 'no Chromium found: install it (apt-get install chromium) or set CHROMIUM'}`);
  process.exit(2);
}

const server = await serve(modelDir, 0);
// Chromium's sandbox cannot start as root (containers, CI).
const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
const browser = await chromium.launch({ executablePath, args });
let result;
try {
  const page = await browser.newPage();
  // A script that fails to load or throws ends the check at once, not at the timeout.
  const failed = new Promise((_, reject) => page.on('pageerror', reject));
  await page.goto(`http://127.0.0.1:${server.address().port}/?check`);
  await Promise.race([
    page.waitForFunction(() => window.webCheck || document.body.dataset.error, null, { timeout: TIMEOUT_MS }),
    failed,
  ]);
  result = await page.evaluate(() => window.webCheck ?? { ok: false, lines: [`error: ${document.body.dataset.error}`] });
} catch (error) {
  result = { ok: false, lines: [`page error: ${error.message}`] };
} finally {
  await browser.close();
  server.close();
}
console.log(result.lines.join('\n'));
process.exit(result.ok ? 0 : 1);
