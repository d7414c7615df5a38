// The dashboard in a real browser (Debian's /usr/bin/chromium through playwright-core):
// alice signs in through the OpenID provider, submits a request; bob, in a second browser context,
// signs in and approves it on /admin; alice's page — never reloaded — shows it Active within
// seconds, by server-sent events. Then a screenshot of bob's /admin.
//
// Usage: node journey.mjs <janus base URL> <screenshot path>
// Run by tests/integration/pages/browser.rs, which starts Janus, the provider and a stand-in agent.
// Prints `journey ok <request id>` and exits 0, or prints why and exits 1.
import { chromium } from 'playwright-core';

const [janus, screenshot] = process.argv.slice(2);
if (!janus || !screenshot) {
  console.error('usage: node journey.mjs <janus base URL> <screenshot path>');
  process.exit(2);
}
const step = (text) => console.log(`step: ${text}`);
const problems = [];

/** Signs `login` in at the provider's development pages, starting from a Janus page. */
async function signIn(page, login) {
  await page.goto(`${janus}/`);
  for (let round = 0; round < 5 && !page.url().startsWith(janus); round += 1) {
    const form = page.locator('form');
    if (await page.locator('input[name="login"]').count()) {
      await page.fill('input[name="login"]', login);
      await page.fill('input[name="password"]', 'any');
    }
    await Promise.all([page.waitForLoadState('load'), form.locator('button[type="submit"]').first().click()]);
    await page.waitForLoadState('load');
  }
  await page.waitForURL(`${janus}/**`);
  await page.getByRole('heading', { name: 'My requests' }).waitFor();
}

/** Fails the run on CSP violations, failed loads and script errors on Janus's pages (the
 *  provider's development pages are not ours to judge). */
function watch(page, who) {
  const ours = (url) => url === '' || url.startsWith(janus);
  page.on('console', (message) => {
    const where = message.location()?.url ?? '';
    if (message.type() === 'error' && ours(page.url()) && ours(where)) {
      problems.push(`${who} console: ${message.text()} (${where || page.url()})`);
    }
  });
  page.on('pageerror', (error) => {
    if (ours(page.url())) problems.push(`${who} page error: ${error.message}`);
  });
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
let status = 0;
try {
  const alice = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  watch(alice, 'alice');
  step('alice signs in through the OpenID provider');
  await signIn(alice, 'alice');
  const me = await alice.locator('.who a').first().textContent();
  if (me.trim() !== 'alice@example.com') throw new Error(`signed in as ${me}`);

  step('alice submits a request (phone width)');
  await alice.getByLabel('payments').check();
  await alice.getByLabel('Duration', { exact: true }).fill('1h');
  await alice.getByLabel('Reason').fill('browser journey: checking the payments pods');
  await alice.getByRole('button', { name: 'Submit request' }).click();
  const submitted = alice.locator('#request-form .flash-ok a');
  await submitted.waitFor();
  const id = (await submitted.textContent()).trim();
  const card = alice.locator(`#my-requests #request-${id}`);
  await card.locator('.state', { hasText: 'Pending approval' }).waitFor({ timeout: 10000 });
  step(`alice sees ${id} pending`);

  const bob = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  watch(bob, 'bob');
  step('bob signs in and opens the approvals page');
  await signIn(bob, 'bob');
  await bob.getByRole('link', { name: 'Approvals' }).click();
  const pending = bob.locator(`#pending #request-${id}`);
  await pending.waitFor();
  step(`bob approves ${id}`);
  await pending.getByRole('button', { name: 'Approve' }).click();
  await bob.locator('#flash .flash-ok').waitFor();

  step('alice’s page shows it Active, live');
  await card.locator('.state', { hasText: 'Active' }).waitFor({ timeout: 10000 });
  const left = await card.locator('dd', { hasText: 'left' }).textContent();
  if (!/left/.test(left)) throw new Error(`no time left shown: ${left}`);

  step('bob’s approvals page moved it to Active, live too');
  await bob.locator(`#active #request-${id} .state`, { hasText: 'Active' }).waitFor({ timeout: 10000 });
  await bob.screenshot({ path: screenshot, fullPage: true });

  if (problems.length) throw new Error(`browser problems:\n${problems.join('\n')}`);
  console.log(`journey ok ${id}`);
} catch (error) {
  console.error(`journey failed: ${error.stack ?? error}`);
  if (problems.length) console.error(problems.join('\n'));
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
