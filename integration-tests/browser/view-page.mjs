// Opens a page in headless Chromium (Debian's, driven by playwright-core) as
// a person would see it, and reports it as JSON on standard output:
//   node view-page.mjs <chromium> <page url> <screenshot.png>
// {title, text, sections: {<section id>: text}, links: [href], console: [..], errors: [..]}
// `text` is what is rendered (innerText), `console` every console message of
// type error or warning, `errors` uncaught page errors and failed requests.
// A full-page screenshot is saved.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [executablePath, url, screenshot] = process.argv.slice(2);
if (!executablePath || !url || !screenshot) {
  console.error('usage: node view-page.mjs <chromium> <page url> <screenshot.png>');
  process.exit(2);
}

// A new, empty profile for every run.
const profile = mkdtempSync(join(tmpdir(), 'driftguard-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleMessages = [];
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleMessages.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  const response = await page.goto(url, { waitUntil: 'load' });
  if (response && !response.ok() && !url.startsWith('file:')) errors.push(`HTTP ${response.status()} for ${url}`);
  const view = await page.evaluate(() => ({
    title: document.title,
    text: document.body.innerText,
    sections: Object.fromEntries(
      [...document.querySelectorAll('section[id]')].map((s) => [s.id, s.innerText]),
    ),
    links: [...document.querySelectorAll('a[href]')].map((a) => a.href),
    svgs: document.querySelectorAll('svg').length,
    bars: document.querySelectorAll('svg rect').length,
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
  process.stdout.write(JSON.stringify({ ...view, console: consoleMessages, errors }));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
