// The web build's check, run in the web worker extension host (no Node.js):
// the extension's `browser` entry activates there, a guest of the workspace
// (read through vscode.workspace.fs from the server) runs under the inline
// adapter to a VM exit, and the VMCS is read through the session. VS Code
// loads this module as CommonJS with only `vscode` to require, so it is
// bundled for the browser and has no test framework: each check throws.

import * as vscode from 'vscode';
import { IO_EXIT_FRAME, readIoExitStop } from '../suite/exitStop';
import { DapRecorder, figure, stopAll, waitForEvent } from '../suite/support';

const OUT = 'HYPERSTEP_E2E_OUT ';
const say = (line: string) => console.log(OUT + line);

async function check(name: string, body: () => Promise<void>): Promise<boolean> {
  const started = performance.now();
  try {
    await body();
    say(`  ✔ ${name} (${Math.round(performance.now() - started)}ms)`);
    return true;
  } catch (error) {
    say(`  ✘ ${name}: ${error instanceof Error ? error.message : String(error)}`);
    return false;
  }
}

export async function run(): Promise<void> {
  const recorder = new DapRecorder();
  recorder.register();
  let failures = 0;
  say('Hyperstep web build in the web worker extension host');
  try {
    const ok = [
      await check('runs without Node.js (a web worker)', async () => {
        const g = globalThis as { process?: { versions?: { node?: string } }; importScripts?: unknown };
        if (g.process?.versions?.node) throw new Error(`this host has Node.js ${g.process.versions.node}: not the web worker`);
        if (typeof g.importScripts !== 'function') throw new Error('no importScripts: not a web worker');
        if (vscode.env.uiKind !== vscode.UIKind.Web) throw new Error('uiKind is not Web');
      }),
      await check('the browser entry activates', async () => {
        const ext = vscode.extensions.getExtension('hyperstep.hyperstep');
        if (!ext) throw new Error('hyperstep.hyperstep is not loaded in this host');
        const wasActive = ext.isActive;
        const started = performance.now();
        await ext.activate();
        if (!wasActive) figure('webActivationMs', Number((performance.now() - started).toFixed(1)));
        const commands = await vscode.commands.getCommands(true);
        if (!commands.includes('hyperstep.debugGuest')) throw new Error('hyperstep.debugGuest is not registered');
      }),
      await check(`runs examples/cpuid-hlt-io-msr to ${IO_EXIT_FRAME} and reads the VMCS`, async () => {
        const folder = vscode.workspace.workspaceFolders?.[0];
        if (!folder) throw new Error('no workspace folder');
        if (folder.uri.scheme === 'file') throw new Error(`the workspace is a file: URI (${folder.uri}), expected a remote one`);
        // As a launch.json names them: VS Code expands ${workspaceFolder} to the
        // folder's path, which the extension finds in the remote workspace.
        const config: vscode.DebugConfiguration = {
          type: 'hyperstep',
          name: 'Web: stop at port I/O',
          request: 'launch',
          program: '${workspaceFolder}/cpuid-hlt-io-msr/guest.asm',
          vm: '${workspaceFolder}/cpuid-hlt-io-msr/vm.json',
          breakOnExits: ['IO_INSTRUCTION'],
        };
        const launched = performance.now();
        const started = waitForEvent(vscode.debug.onDidStartDebugSession, (s) => s.name === config.name, 'the session to start');
        if (!(await vscode.debug.startDebugging(folder, config))) throw new Error('startDebugging returned false');
        const session = await started;
        const stop = await recorder.nextStop(session);
        figure('webLaunchToExitStopMs', Number((performance.now() - launched).toFixed(1)));
        const report = await readIoExitStop(session, stop);
        say(`    VM_EXIT_REASON = ${report.vmExitReason}; EXIT_QUALIFICATION = ${report.exitQualification}`);
        // The guest frame's source goes by the workspace's URI, so the workbench can open it here.
        const trace = (await session.customRequest('stackTrace', { threadId: stop.threadId ?? 1 })) as { stackFrames: { source?: { path?: string } }[] };
        const path = trace.stackFrames.find((f) => f.source?.path !== undefined)?.source?.path ?? '';
        if (!path.startsWith(`${folder.uri.scheme}://`)) throw new Error(`the guest frame's source is "${path}", not a ${folder.uri.scheme}: URI the workbench can open`);
        say(`    source: ${path}`);
      }),
    ];
    ok.push(await check('the session ends when stopped', () => stopAll()));
    failures = ok.filter((passed) => !passed).length;
  } finally {
    recorder.dispose();
  }
  console.log(`HYPERSTEP_E2E_RESULT ${JSON.stringify({ failures })}`);
  if (failures > 0) throw new Error(`${failures} web check(s) failed`);
}
