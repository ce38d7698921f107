/// <reference types="mocha" />
// The integration suite: runs inside a real VS Code extension host with the
// real `vscode` API (code-server's here, VS Code's under @vscode/test-electron
// elsewhere). The workspace folder holds the examples. Mocha's `describe`/`it`
// are the globals its loader defines (bdd ui).
//
// Not named *.test.ts: `npm test` runs under Node, where there is no vscode.

import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { readIoExitStop } from './exitStop';
import { DapRecorder, figure, stopAll, waitForEvent } from './support';

const EXTENSION_ID = 'hyperstep.hyperstep';
const GUEST = 'cpuid-hlt-io-msr/guest.asm';
const VM = 'cpuid-hlt-io-msr/vm.json';
/** A boot sector: what a launch with no attributes but the program runs. */
const BOOT_SECTOR = 'demo/boot.asm';

function workspaceFolder(): vscode.WorkspaceFolder {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the suite needs a workspace folder holding the examples');
  return folder;
}

const inWorkspace = (relative: string): vscode.Uri => vscode.Uri.joinPath(workspaceFolder().uri, relative);

/** The program as a launch configuration names it: a file path, or the URI where the workspace is not on this host's disk. */
const launchPath = (uri: vscode.Uri): string => (uri.scheme === 'file' ? uri.fsPath : uri.toString());

describe('Hyperstep in a real extension host', function () {
  this.timeout(60_000);
  const recorder = new DapRecorder();

  before(() => recorder.register());
  after(() => recorder.dispose());
  afterEach(async () => {
    await stopAll();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('is installed, activates, and registers its commands and languages', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not installed in this extension host`);
    const wasActive = ext.isActive;
    const started = performance.now();
    await ext.activate();
    const ms = performance.now() - started;
    assert.equal(ext.isActive, true);
    // Only meaningful when nothing (an open .asm, a debug launch) activated it before.
    if (!wasActive) figure('activationMs', Number(ms.toFixed(1)));
    else figure('activationMs', 'already active');

    const commands = await vscode.commands.getCommands(true);
    for (const id of ['hyperstep.debugGuest', 'hyperstep.runGuest', 'hyperstep.compareTechniques', 'hyperstep.exits.clear']) {
      assert.ok(commands.includes(id), `command ${id} is not registered`);
    }
    assert.ok((await vscode.languages.getLanguages()).includes('nasm'), 'the nasm language is not contributed');
    const doc = await vscode.workspace.openTextDocument(inWorkspace(GUEST));
    assert.equal(doc.languageId, 'nasm', `${GUEST} opened as ${doc.languageId}`);
  });

  it('the configuration provider fills a launch for the open .asm (F5 without a launch.json)', async () => {
    const guest = inWorkspace(BOOT_SECTOR);
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(guest));
    recorder.clear();
    const started = waitForEvent(vscode.debug.onDidStartDebugSession, (s) => s.type === 'hyperstep', 'a hyperstep session to start');
    // An empty configuration (not even a type) is what F5 passes when there is
    // no launch.json: VS Code picks the debugger from the editor's language,
    // then asks that debugger's provider to fill it in.
    const empty = {} as vscode.DebugConfiguration;
    assert.equal(await vscode.debug.startDebugging(workspaceFolder(), empty), true, 'startDebugging refused the empty configuration');
    const session = await started;
    assert.equal(session.configuration.name, 'Debug guest');
    assert.equal(session.configuration.request, 'launch');
    assert.equal(session.configuration.stopOnEntry, true);
    // ${file} was substituted with the open guest.
    assert.equal(String(session.configuration.program).replaceAll('\\', '/'), launchPath(guest).replaceAll('\\', '/'));
    const stop = await recorder.nextStop(session);
    assert.equal(stop.reason, 'entry');
    const trace = (await session.customRequest('stackTrace', { threadId: stop.threadId ?? 1 })) as DebugProtocol.StackTraceResponse['body'];
    assert.match(trace.stackFrames[0].name, /0000:7C00/);
  });

  it('the configuration provider refuses a launch without a program, and an attach', async () => {
    const folder = workspaceFolder();
    const noProgram = { type: 'hyperstep', name: 'no program', request: 'launch' };
    assert.equal(await vscode.debug.startDebugging(folder, noProgram), false, 'a launch without "program" started');
    const attach = { type: 'hyperstep', name: 'attach', request: 'attach', program: '${file}' };
    assert.equal(await vscode.debug.startDebugging(folder, attach), false, 'an attach request started');
    const badPaging = { type: 'hyperstep', name: 'bad paging', request: 'launch', program: launchPath(inWorkspace(GUEST)), paging: 'nested' };
    assert.equal(await vscode.debug.startDebugging(folder, badPaging), false, 'a launch with paging "nested" started');
    assert.equal(vscode.debug.activeDebugSession, undefined);
  });

  it('stops at a VM exit (breakOnExits) and reads the VMCS through the session', async () => {
    recorder.clear();
    const config: vscode.DebugConfiguration = {
      type: 'hyperstep',
      name: 'Stop at port I/O',
      request: 'launch',
      program: `\${workspaceFolder}/${GUEST}`,
      vm: `\${workspaceFolder}/${VM}`,
      breakOnExits: ['IO_INSTRUCTION'],
    };
    const launched = performance.now();
    const started = waitForEvent(vscode.debug.onDidStartDebugSession, (s) => s.name === config.name, 'the session to start');
    assert.equal(await vscode.debug.startDebugging(workspaceFolder(), config), true);
    const session = await started;
    const stop = await recorder.nextStop(session);
    figure('launchToExitStopMs', Number((performance.now() - launched).toFixed(1)));

    const threadId = stop.threadId ?? 1;
    const report = await readIoExitStop(session, stop);
    assert.equal(report.scopes.includes('Registers'), true, `scopes: ${report.scopes.join(', ')}`);
    const guestFrame = { id: report.guestFrameId };
    const port = (await session.customRequest('evaluate', { expression: 'port == 0xE9 && out', frameId: guestFrame.id, context: 'watch' })) as DebugProtocol.EvaluateResponse['body'];
    assert.match(port.result, /^0x0*1$/i);
    const command = (await session.customRequest('evaluate', { expression: 'vmcs GUEST_RIP', frameId: guestFrame.id, context: 'repl' })) as DebugProtocol.EvaluateResponse['body'];
    assert.match(command.result, /GUEST_RIP/);
    assert.match(command.result, /103B/i);

    // The next exit is the next OUT of the same loop.
    await session.customRequest('continue', { threadId });
    const again = await recorder.nextStop(session);
    assert.equal(again.reason, 'exception');
    const rip = (await session.customRequest('evaluate', { expression: 'rip', frameId: undefined, context: 'watch' })) as DebugProtocol.EvaluateResponse['body'];
    assert.match(rip.result, /^0x0*1039$/i);
  });
});
