// The web terminal in a real browser (Debian's /usr/bin/chromium through playwright-core), over the
// whole path: browser ⇄ central ⇄ agent ⇄ the fake Kubernetes API's pods/exec (a real /bin/sh).
//
// 1. The admin adds a quick command for the cluster on /admin/commands.
// 2. Alice opens her signed terminal link: the first pod's shell opens; she types `echo hi` and
//    reads `hi` back from the rendered xterm rows; JSON typed into the shell is shell input too.
//    The sidebar shows the pod's logs (also followed) and events, and a refused log read as a
//    structured diagnostic; the picker shows a crash-looping pod's badges.
// 3. She opens the split pane (its own socket) and types there; only that pane shows it.
// 4. She clicks the quick command: its output appears in the focused (second) pane.
// 5. The admin watches alice's first session read-only from the request page: sees what she
//    types, and what the admin types reaches nobody.
// 6. The admin revokes the request on its page; both of alice's panes and the admin's watching
//    page show the close message (reason `revoked`) within 5 s.
// 6. Alice replays the recording of her first session on the request's page.
//
// Usage: node terminal.mjs <janus base URL> <terminal link> <alice cookie> <admin cookie> <request id> <screenshot>
// where a cookie is `name=value`. Run by tests/integration/pages/terminal_browser.rs.
// Prints `terminal ok <close latency ms>` and exits 0, or prints why and exits 1.
import { chromium } from 'playwright-core';

const [janus, link, aliceCookie, adminCookie, id, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: node terminal.mjs <base> <link> <alice cookie> <admin cookie> <request id> <screenshot>');
  process.exit(2);
}
const step = (text) => console.log(`step: ${text}`);
const problems = [];
const QUICK_OUTPUT = 'quick-42';

/** Fails the run on CSP violations and script errors. A side panel's refused request (a 4xx the
 *  page shows as a diagnostic) is the page working, not a problem. */
function watch(page, who) {
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location()?.url ?? '';
    if (/^Failed to load resource/.test(message.text()) && where.includes('/api/v1/requests/')) return;
    problems.push(`${who} console: ${message.text()} (${where})`);
  });
  page.on('pageerror', (error) => problems.push(`${who} page error: ${error.message}`));
}

async function context(browser, cookie, viewport) {
  const [name, ...value] = cookie.split('=');
  const created = await browser.newContext({ viewport });
  await created.addCookies([{ name, value: value.join('='), url: janus }]);
  return created;
}

/** Waits until a row of pane `index`'s rendered terminal reads exactly `text`. */
async function rowReads(page, index, text, timeout = 10000) {
  await page.waitForFunction(
    ([pane, wanted]) => [...document.querySelectorAll(`#pane-${pane} .xterm-rows > div`)]
      .some((row) => row.textContent.replace(/\u00a0/g, ' ').trim() === wanted),
    [index, text],
    { timeout },
  );
}

async function paneText(page, index) {
  return page.locator(`#pane-${index} .xterm-rows`).innerText();
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
let status = 0;
let alice = null;
try {
  const admin = await (await context(browser, adminCookie, { width: 1280, height: 900 })).newPage();
  watch(admin, 'admin');
  admin.on('dialog', (dialog) => dialog.accept());
  step('the admin adds a quick command for prod');
  await admin.goto(`${janus}/admin/commands`);
  const prod = admin.locator('#cluster-prod');
  await prod.getByLabel('Name').last().fill('Say hello');
  await prod.getByLabel('Command').last().fill('echo quick-$((6*7))');
  await prod.getByRole('button', { name: 'Add to prod' }).click();
  await admin.locator('#cluster-prod .quick-command input[value="Say hello"]').waitFor();

  alice = await (await context(browser, aliceCookie, { width: 1400, height: 900 })).newPage();
  watch(alice, 'alice');
  step('alice opens her terminal link');
  await alice.goto(link);
  await alice.locator('#pane-0 .pane-status', { hasText: 'Connected' }).waitFor({ timeout: 15000 });
  const tabs = await alice.locator('.ns-tab').allTextContents();
  if (tabs.join(',') !== 'payments') throw new Error(`namespace tabs: ${tabs}`);
  const pod = await alice.locator('#pane-0 .pod-select').inputValue();
  if (!pod) throw new Error('no pod picked');

  step(`alice types echo hi in ${pod}`);
  await alice.locator('#pane-0 .xterm-screen').click();
  await alice.keyboard.type('echo hi\n');
  await rowReads(alice, 0, 'hi');
  step('JSON typed into the shell is shell input, not a control message');
  await alice.keyboard.type(`echo '{"v":1,"type":"resize","cols":3,"rows":3}'\n`);
  await rowReads(alice, 0, '{"v":1,"type":"resize","cols":3,"rows":3}');

  step('the sidebar shows the pod’s logs and events');
  await alice.locator('#logs', { hasText: 'listening on :8080' }).waitFor({ timeout: 10000 });
  await alice.locator('#events', { hasText: 'Pulled' }).waitFor({ timeout: 10000 });
  step('the pod picker shows a crash-looping pod’s health');
  await alice.locator('#pane-0 .pod-select').selectOption('worker-1');
  for (const badge of ['Not ready', 'CrashLoopBackOff', 'OOMKilled', 'Restarts: 5']) {
    await alice.locator(`#pane-0 .badges .badge-warn[data-badge="${badge}"]`).waitFor({ timeout: 5000 });
  }
  await alice.locator('#events', { hasText: 'BackOff' }).waitFor({ timeout: 10000 });
  step('a refused log read is shown as a structured diagnostic');
  const diagnostic = alice.locator('#logs-problem .diagnostic[data-code="RBAC_DENIED"]');
  await diagnostic.waitFor({ timeout: 10000 });
  const fields = {};
  for (const row of await diagnostic.locator('dl > div').all()) {
    fields[await row.getAttribute('data-field')] = (await row.locator('dd').innerText()).trim();
  }
  const expected = { action: 'logs', cluster: 'prod', namespace: 'payments', pod: 'worker-1', code: 'RBAC_DENIED', retryable: 'no' };
  for (const [field, value] of Object.entries(expected)) {
    if (fields[field] !== value) throw new Error(`diagnostic ${field}: ${fields[field]} (all: ${JSON.stringify(fields)})`);
  }
  if (!fields.message || fields.message === '—') throw new Error('the diagnostic has no message');
  step('following the logs streams them');
  await alice.locator('#logs-follow').check();
  await alice.locator('#logs', { hasText: 'fatal: out of memory' }).waitFor({ timeout: 10000 });
  await alice.locator('#logs-follow').uncheck();
  await alice.locator('#pane-0 .pod-select').selectOption('web-1');
  const stillOpen = await alice.locator('#pane-0 .pane-status').innerText();
  if (!/Connected/.test(stillOpen)) throw new Error(`picking a pod closed the shell: ${stillOpen}`);

  step('alice opens the split pane and types there');
  await alice.getByRole('button', { name: 'Split' }).click();
  await alice.locator('#pane-1 .pane-status', { hasText: 'Connected' }).waitFor({ timeout: 15000 });
  await alice.locator('#pane-1 .xterm-screen').click();
  await alice.keyboard.type('echo second-$((40+2))\n');
  await rowReads(alice, 1, 'second-42');
  if ((await paneText(alice, 0)).includes('second-42')) throw new Error('the first pane shows the second pane’s input');

  step('alice sends the quick command to the focused pane');
  await alice.getByRole('button', { name: 'Say hello' }).click();
  await rowReads(alice, 1, QUICK_OUTPUT);
  if ((await paneText(alice, 0)).includes(QUICK_OUTPUT)) throw new Error('the quick command went to the wrong pane');

  step('the admin watches alice’s first session read-only');
  await admin.goto(`${janus}/requests/${id}`);
  const live = admin.locator('a.watch-live');
  await live.first().waitFor();
  if ((await live.count()) !== 2) throw new Error(`expected two live sessions, found ${await live.count()}`);
  const watcher = await admin.context().newPage();
  watch(watcher, 'admin watching');
  await watcher.goto(await live.first().getAttribute('href').then((href) => `${janus}${href}`));
  await watcher.locator('#pane-0 .pane-status', { hasText: 'Watching' }).waitFor({ timeout: 15000 });
  await alice.locator('#pane-0 .xterm-screen').click();
  await alice.keyboard.type('echo watched-$((2+3))\n');
  await rowReads(alice, 0, 'watched-5');
  await rowReads(watcher, 0, 'watched-5');
  step('what the watcher types reaches nobody');
  await watcher.locator('#pane-0 .xterm-screen').click();
  await watcher.keyboard.type('echo intruder\n');
  await alice.keyboard.type('echo after-$((1+1))\n');
  await rowReads(alice, 0, 'after-2');
  await rowReads(watcher, 0, 'after-2');
  if ((await paneText(alice, 0)).includes('intruder')) throw new Error('the watcher typed into alice’s shell');

  step('the admin revokes the request from another browser context');
  await admin.goto(`${janus}/requests/${id}`);
  await admin.getByLabel('Reason').fill('browser test');
  const answered = admin.waitForResponse((response) => response.request().method() === 'POST'
    && response.url().endsWith(`/requests/${id}/revoke`));
  const started = Date.now();
  await admin.getByRole('button', { name: 'Revoke' }).click();
  const clicked = Date.now();
  await answered;
  for (const pane of [0, 1]) {
    await alice.locator(`#pane-${pane} .term-closed[data-reason="revoked"]:not([hidden])`).waitFor({ timeout: 5000 });
  }
  // When each page showed it (its own clock reading, so the test's polling does not count).
  const shownAt = [];
  for (const pane of [0, 1]) shownAt.push(Number(await alice.locator(`#pane-${pane} .term-closed`).getAttribute('data-at')));
  const latency = Math.max(...shownAt) - started;
  step(`the click itself (with the confirm dialog) took ${clicked - started} ms`);
  await watcher.locator('#pane-0 .term-closed[data-reason="revoked"]:not([hidden])').waitFor({ timeout: 5000 });
  const message = await alice.locator('#pane-0 .term-closed').innerText();
  if (!/revoked/i.test(message)) throw new Error(`close message: ${message}`);
  if (!(await paneText(alice, 0)).includes(message.trim())) throw new Error('the close message is not in the terminal');
  step(`both panes closed ${latency} ms after the click: ${message}`);
  await alice.screenshot({ path: screenshot });

  step('alice replays her session on the request page');
  await alice.goto(`${janus}/requests/${id}`);
  const replay = alice.locator('#recordings button.replay');
  await replay.first().waitFor({ timeout: 10000 });
  if ((await replay.count()) < 2) throw new Error(`expected two recorded sessions, found ${await replay.count()}`);
  // Each session is replayed to its last frame: the first pane's ends with the JSON it echoed,
  // the second pane's with the quick command's output.
  const seen = new Set();
  for (let index = 0; index < (await replay.count()); index += 1) {
    await replay.nth(index).click();
    await alice.locator('#player .ap-player').waitFor({ timeout: 10000 });
    await alice.waitForFunction(
      () => /quick-42|"cols":3/.test(document.querySelector('#player').textContent),
      null,
      { timeout: 15000 },
    );
    const frame = await alice.locator('#player').textContent();
    if (frame.includes('"cols":3')) seen.add('first pane');
    if (frame.includes(QUICK_OUTPUT)) seen.add('second pane');
  }
  if (seen.size !== 2) throw new Error(`replayed only: ${[...seen].join(', ')}`);
  if (problems.length) throw new Error(`browser problems:\n${problems.join('\n')}`);
  console.log(`terminal ok ${latency}`);
} catch (error) {
  console.error(`terminal journey failed: ${error.stack ?? error}`);
  if (alice) {
    for (const pane of await alice.locator('.pane').all()) {
      console.error(`pane: ${(await pane.innerText()).slice(0, 2000)}`);
    }
    const pods = await alice.evaluate(async (request) => {
      const response = await fetch(`/api/v1/requests/${request}/terminal/pods?namespace=payments`);
      return `${response.status} ${await response.text()}`;
    }, id).catch((problem) => `${problem}`);
    console.error(`pods: ${pods.slice(0, 2000)}`);
    const recordings = await alice.locator('#recordings').innerText().catch(() => 'no #recordings');
    console.error(`recordings: ${recordings.slice(0, 2000)}`);
    const cast = await alice.evaluate(async () => {
      const session = document.querySelector('#player')?.dataset.session;
      if (!session) return 'no session replayed';
      const response = await fetch(`/api/v1/recordings/${session}`);
      return `${response.status} ${response.headers.get('content-type')}\n${await response.text()}`;
    }).catch((problem) => `${problem}`);
    console.error(`replayed cast: ${cast.slice(0, 1500)}`);
    await alice.screenshot({ path: screenshot }).catch(() => {});
  }
  if (problems.length) console.error(problems.join('\n'));
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
