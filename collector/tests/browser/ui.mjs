// Drives nodebom's web UI in headless Chromium the way a user does: sign in, search for
// a package and reach the pod that runs it, open the image, download its SBOM, see
// hostile package names as text. A screenshot of each page goes to $SHOTS.
// Run by collector/tests/ui.rs, which starts the collector and says what it holds.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const { UI_URL, QUERY_TOKEN, DIGEST, PACKAGE, POD, HOSTILE, SHOTS, CHROMIUM } = process.env;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  // As root in a container, without the network: no sandbox, nothing fetched in the
  // background.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
  page.on('pageerror', (error) => problems.push(String(error)));
  page.on('dialog', async (dialog) => { problems.push(`dialog: ${dialog.message()}`); await dialog.dismiss(); });
  const shot = (name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

  // Signing in leads back to the page asked for, with a strict session cookie.
  await page.goto(`${UI_URL}/images`);
  assert.equal(new URL(page.url()).pathname, '/sign-in');
  await shot('sign-in');
  await page.getByLabel('Query token').fill('not the token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
  problems.length = 0; // the console's note of that 401, which was the point
  await page.getByLabel('Query token').fill(QUERY_TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${UI_URL}/images`);
  const session = (await context.cookies()).find((cookie) => cookie.name === 'nodebom_session');
  assert.ok(session, 'no session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.secure, true);
  assert.equal(session.sameSite, 'Strict');
  await shot('images');

  // The search box, by keyboard, finds the package and the pod that runs it.
  await page.getByRole('searchbox', { name: 'Search' }).fill(PACKAGE);
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/search\?q=/);
  await page.getByText(POD).waitFor();
  await shot('search');

  // The image's page: its packages, the hostile one as plain text.
  await page.getByRole('link', { name: 'docker.io/library/nginx:1.27.0' }).click();
  await page.waitForURL(`${UI_URL}/images/${DIGEST}`);
  await page.getByRole('cell', { name: HOSTILE, exact: true }).waitFor();
  assert.equal(await page.locator('script').count(), 0);
  await shot('image');

  // The SBOM download is the stored document of this image.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Download the SBOM' }).click(),
  ]);
  const document = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.equal(document.metadata.component.version, DIGEST);

  // From the fleet down to the pod and its image, by links.
  await page.goto(`${UI_URL}/`);
  await page.getByRole('link', { name: 'prod-a', exact: true }).click();
  await page.getByRole('heading', { name: 'Cluster prod-a' }).waitFor();
  await shot('cluster');
  await page.getByRole('link', { name: 'web', exact: true }).click();
  await page.getByRole('rowheader', { name: 'nginx-0' }).waitFor();
  await shot('namespace');
  await page.getByRole('link', { name: 'docker.io/library/nginx:1.27.0' }).click();
  await page.waitForURL(`${UI_URL}/images/${DIGEST}`);

  for (const [name, path] of [['fleet', '/'], ['exposures', '/exposures'], ['search-help', '/search']]) {
    await page.goto(`${UI_URL}${path}`);
    await page.getByRole('heading', { level: 1 }).waitFor();
    await shot(name);
  }
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(`${UI_URL}/images/${DIGEST}`);
  await shot('image-dark');

  // No script ran, no page broke, nothing was refused by the Content-Security-Policy.
  assert.deepEqual(problems, []);
  console.log('browser checks passed');
} finally {
  await browser.close();
}
