// The UI test: a user's first debugging session in the real workbench.
// Opens the example guest, starts debugging (the workspace's launch.json has
// stopOnEntry), checks the stop on entry, ticks the "VM exit 30
// IO_INSTRUCTION" filter in the Breakpoints view, continues, and checks
// through the DOM that the Call Stack shows the exit frame and the Variables
// view the exit reason, in the VM exit scope and in the VMCS. Screenshots go to
// the artifacts folder, and the two the README shows to media/screenshots.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForWorkbench, workbenchUrl } from './browser.mjs';
import { ensureDir, log, sleep, step, waitFor } from './lib.mjs';

export const GUEST = 'cpuid-hlt-io-msr/guest.asm';
export const EXIT_FILTER = 'VM exit 30 IO_INSTRUCTION';
export const EXIT_FRAME = 'VM exit 30 IO_INSTRUCTION · OUT 0xE9, AL → port 0xE9, 1 byte';

/** The launch.json of the example workspace. */
export function launchJson() {
  return {
    version: '0.2.0',
    configurations: [
      {
        type: 'hyperstep',
        request: 'launch',
        name: 'Debug cpuid-hlt-io-msr',
        program: '${workspaceFolder}/cpuid-hlt-io-msr/guest.asm',
        vm: '${workspaceFolder}/cpuid-hlt-io-msr/vm.json',
        stopOnEntry: true,
      },
    ],
  };
}

const rowsOf = (page, view) =>
  page.locator(`.${view} .monaco-list-row`).evaluateAll((rows) =>
    rows.map((r) => ({ label: r.getAttribute('aria-label') ?? '', expanded: r.getAttribute('aria-expanded'), text: r.innerText })),
  );

/** Waits until the view's rows satisfy `check` (which returns an error text or nothing); the rows render after the state changes. */
async function waitForRows(page, view, check, { timeoutMs = 10_000 } = {}) {
  let problem = '';
  try {
    return await waitFor(`the ${view} rows`, async () => {
      const rows = await rowsOf(page, view);
      problem = check(rows) ?? '';
      return problem ? undefined : rows;
    }, { timeoutMs });
  } catch {
    throw new Error(problem);
  }
}

/** The view's row whose aria-label starts with `prefix`, scrolled into the view's virtual list first. */
async function findRow(page, view, prefix, { timeoutMs = 10_000 } = {}) {
  const row = page.locator(`.${view} .monaco-list-row[aria-label^="${prefix.replaceAll('"', '\\"')}"]`).first();
  const list = page.locator(`.${view} .monaco-list`).first();
  const deadline = Date.now() + timeoutMs;
  let direction = 1;
  let moves = 0;
  while (!(await row.count())) {
    if (Date.now() > deadline) {
      const seen = (await rowsOf(page, view)).map((r) => r.label).join(' | ');
      throw new Error(`no row "${prefix}…" in ${view} (rows: ${seen})`);
    }
    // Rows outside the viewport are not in the DOM: scroll the list.
    const box = await list.boundingBox();
    if (box) {
      await page.mouse.move(box.x + box.width / 2, box.y + Math.min(box.height / 2, 40));
      await page.mouse.wheel(0, 66 * direction);
      if (++moves % 40 === 0) direction = -direction;
    }
    await sleep(50);
  }
  return row;
}

/** Expands a tree row (a click toggles it) unless it is already expanded. */
async function expand(page, view, prefix) {
  const row = await findRow(page, view, prefix);
  if ((await row.getAttribute('aria-expanded')) !== 'true') {
    await row.click();
    await waitFor(`"${prefix}" to expand`, async () => (await (await findRow(page, view, prefix)).getAttribute('aria-expanded')) === 'true', { timeoutMs: 5000 });
  }
}

async function collapse(page, view, prefix) {
  const row = await findRow(page, view, prefix);
  if ((await row.getAttribute('aria-expanded')) === 'true') {
    await row.click();
    await waitFor(`"${prefix}" to collapse`, async () => (await (await findRow(page, view, prefix)).getAttribute('aria-expanded')) !== 'true', { timeoutMs: 5000 });
  }
}

async function setPane(page, title, expanded) {
  const header = page.locator(`.pane-header[aria-label="${title} Section"]`).first();
  if ((await header.getAttribute('aria-expanded')) !== String(expanded)) await header.click();
}

/** No focus ring or hover in the screenshots: the mouse away, the focused element blurred. */
async function unfocus(page) {
  await page.mouse.move(5, 895);
  await page.evaluate(() => document.activeElement instanceof HTMLElement && document.activeElement.blur());
  await sleep(300);
}

const callStackState = (page) => page.locator('.debug-pane .call-stack-state-message').first().innerText().catch(() => '');

/** Runs the test in `page`; returns what it measured. Step names start with "ui:". */
export async function runUiTest({ page, server, workspace, artifacts, readmeScreenshots }) {
  const shots = ensureDir(join(artifacts, 'screenshots'));
  const shot = async (name) => {
    const path = join(shots, `${name}.png`);
    await page.screenshot({ path });
    return path;
  };
  const result = { screenshots: [] };

  await step('ui:open-workbench', async () => {
    const started = performance.now();
    await page.goto(workbenchUrl(server, workspace));
    await waitForWorkbench(page);
    result.workbenchMs = Math.round(performance.now() - started);
  });

  await step('ui:open-guest', async () => {
    await page.keyboard.press('Control+P');
    const input = page.locator('.quick-input-widget input').first();
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(GUEST);
    await page.locator('.quick-input-widget .monaco-list-row[aria-label*="guest.asm"]').first().waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
    await page.locator('.tab.active[aria-label^="guest.asm"]').waitFor({ timeout: 10_000 });
    // The extension activates on the NASM language: the status bar shows it.
    await page.locator('.statusbar-item', { hasText: 'NASM x86 Assembly' }).first().waitFor({ timeout: 15_000 });
  });

  await step('ui:start-debugging', async () => {
    await page.keyboard.press('F5');
    await waitFor('the debug session to stop (Call Stack)', async () => /paused/i.test(await callStackState(page)), { timeoutMs: 30_000 });
  });

  await step('ui:stopped-on-entry', async () => {
    const state = await callStackState(page);
    if (!/paused on entry/i.test(state)) throw new Error(`the Call Stack says "${state}", not "Paused on entry"`);
    await waitForRows(page, 'debug-call-stack', (frames) =>
      frames[0]?.label.includes('start (0x1000)') && frames[0].label.includes('line 9')
        ? undefined
        : `the top frame is "${frames[0]?.label}", not start (0x1000) at line 9 of guest.asm`,
    );
    await page.locator('.debug-top-stack-frame-line').first().waitFor({ timeout: 10_000 });
    result.screenshots.push(await shot('stopped-on-entry'));
  });

  await step('ui:enable-exit-breakpoint', async () => {
    const row = await findRow(page, 'debug-breakpoints', EXIT_FILTER);
    if ((await row.getAttribute('aria-label')) !== EXIT_FILTER) throw new Error(`the filter row is "${await row.getAttribute('aria-label')}"`);
    await row.locator('input[type=checkbox]').click();
    await waitFor(`"${EXIT_FILTER}" to be checked`, async () => (await row.getAttribute('aria-checked')) === 'true', { timeoutMs: 5000 });
  });

  await step('ui:continue-to-exit', async () => {
    await page.keyboard.press('F5');
    await waitFor(
      `the session to stop at ${EXIT_FILTER}`,
      async () => (await callStackState(page)).includes('VM exit 30 IO_INSTRUCTION'),
      { timeoutMs: 30_000 },
    );
  });

  // A wider side bar shows the frames and values in full, for the screenshots;
  // Watch is not used.
  await step('ui:arrange-views', async () => {
    const sidebar = await page.locator('.part.sidebar').boundingBox();
    await page.mouse.move(sidebar.x + sidebar.width + 1, sidebar.y + 300);
    await page.mouse.down();
    await page.mouse.move(sidebar.x + 600, sidebar.y + 300, { steps: 8 });
    await page.mouse.up();
    await setPane(page, 'Watch', false);
  });

  await step('ui:call-stack', async () => {
    await waitForRows(page, 'debug-call-stack', (frames) => {
      const top = frames[0]?.label ?? '';
      if (!top.startsWith(`Stack Frame ${EXIT_FRAME}`)) return `the top frame is "${top}", not the exit frame "${EXIT_FRAME}"`;
      const guest = frames[1]?.label ?? '';
      if (!guest.includes('start.print+0x7 (0x103B)') || !guest.includes('line 30') || !guest.includes('guest.asm'))
        return `the frame below the exit is "${guest}", not start.print+0x7 (0x103B) at guest.asm line 30`;
      return undefined;
    });
    const widget = await page.locator('.exception-widget').first().innerText({ timeout: 5000 });
    if (!widget.includes('I/O bitmap A bit 0xE9 set')) throw new Error(`the exception widget says "${widget}"`);
  });

  await step('ui:variables', async () => {
    await expand(page, 'debug-variables', 'Scope VM exit');
    await findRow(page, 'debug-variables', 'reason, value 30 IO_INSTRUCTION');
    await findRow(page, 'debug-variables', 'why, value I/O bitmap A bit 0xE9 set');
    await unfocus(page);
    result.screenshots.push(await shot('stopped-at-exit'));

    await collapse(page, 'debug-variables', 'Scope VM exit');
    await collapse(page, 'debug-variables', 'Scope Registers');
    await setPane(page, 'Call Stack', false);
    await setPane(page, 'Breakpoints', false);
    await expand(page, 'debug-variables', 'Scope VMCS');
    const group = await findRow(page, 'debug-variables', 'VM-exit information');
    const groupLabel = (await group.getAttribute('aria-label')) ?? '';
    await expand(page, 'debug-variables', groupLabel.split(',')[0]);
    const reason = await findRow(page, 'debug-variables', 'VM_EXIT_REASON');
    const label = (await reason.getAttribute('aria-label')) ?? '';
    if (!/value 0x0*1E\b/i.test(label)) throw new Error(`VM_EXIT_REASON shows "${label}", not 0x1E (30)`);
    result.vmExitReasonRow = label;
    const qualification = await findRow(page, 'debug-variables', 'EXIT_QUALIFICATION');
    result.exitQualificationRow = (await qualification.getAttribute('aria-label')) ?? '';
    if (!result.exitQualificationRow.includes('OUT 0xE9, AL → port 0xE9, 1 byte')) throw new Error(`EXIT_QUALIFICATION shows "${result.exitQualificationRow}"`);
    // Its bit fields: the basic reason by name.
    await expand(page, 'debug-variables', label.split(',')[0]);
    const basic = await findRow(page, 'debug-variables', 'basic exit reason');
    const basicLabel = (await basic.getAttribute('aria-label')) ?? '';
    if (!basicLabel.includes('IO_INSTRUCTION')) throw new Error(`the basic exit reason shows "${basicLabel}", not IO_INSTRUCTION`);
    result.basicExitReasonRow = basicLabel;
    await basic.click();
    await unfocus(page);
    result.screenshots.push(await shot('vmcs-variables'));
  });

  await step('ui:stop-debugging', async () => {
    await page.keyboard.press('Shift+F5');
    await waitFor('the debug toolbar to close', async () => (await page.locator('.debug-toolbar, .debug-toolbar-container .debug-toolbar').count()) === 0 || !(await page.locator('.debug-toolbar').first().isVisible()), { timeoutMs: 15_000 });
    await waitFor('the Variables view to empty', async () => (await page.locator('.debug-variables .monaco-list-row').count()) === 0, { timeoutMs: 15_000 });
  });

  // What the workbench itself measured: Developer: Show Running Extensions
  // shows code loading + activate() time. A figure, not a check.
  result.activation = await step('ui:activation-time', async () => {
    try {
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input').first();
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      await input.fill('>Developer: Show Running Extensions');
      await page.locator('.quick-input-widget .monaco-list-row[aria-label*="Show Running Extensions"]').first().waitFor({ timeout: 10_000 });
      await page.keyboard.press('Enter');
      const row = page.locator('.runtime-extensions-editor .monaco-list-row', { hasText: 'hyperstep' }).first();
      await row.waitFor({ timeout: 10_000 });
      const text = await row.locator('.activation-time').first().innerText({ timeout: 5000 });
      result.screenshots.push(await shot('running-extensions'));
      const ms = /(\d+)\s*ms/.exec(text);
      return { text, ms: ms ? Number(ms[1]) : undefined };
    } catch (error) {
      log(`could not read the activation time from Show Running Extensions: ${error.message}`);
      return undefined;
    }
  });

  if (readmeScreenshots) {
    ensureDir(readmeScreenshots);
    for (const name of ['stopped-at-exit', 'vmcs-variables']) copyFileSync(join(shots, `${name}.png`), join(readmeScreenshots, `${name}.png`));
  }
  return result;
}
