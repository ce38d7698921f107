// The extension's launch-configuration rules (src/extension/configuration.ts
// holds them apart from the vscode module so they run here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveLaunchConfiguration, isGuestSource } from '../../src/extension/configuration';

const asmEditor = { fileName: '/work/guest/boot.asm', languageId: 'nasm' };
const empty = { type: '', name: '', request: '' };

test('no launch.json and a .asm file open: a default launch of ${file}, stopping on entry', () => {
  const r = resolveLaunchConfiguration(empty, asmEditor);
  assert.ok('config' in r);
  assert.deepEqual(r.config, { type: 'hyperstep', name: 'Debug guest', request: 'launch', program: '${file}', stopOnEntry: true });
});

test('no launch.json and no assembly file open: a clear error', () => {
  for (const active of [undefined, { fileName: '/w/readme.md', languageId: 'markdown' }]) {
    const r = resolveLaunchConfiguration(empty, active);
    assert.ok('error' in r);
    assert.match(r.error, /Open a NASM \.asm file/);
  }
});

test('a configuration without a program is rejected with a message naming the attribute', () => {
  for (const program of [undefined, '', '   ', 7]) {
    const r = resolveLaunchConfiguration({ type: 'hyperstep', name: 'Boot', request: 'launch', program }, asmEditor);
    assert.ok('error' in r, String(program));
    assert.match(r.error, /"Boot" has no "program"/);
  }
});

test('attach is refused; a complete launch configuration passes through unchanged', () => {
  const attach = resolveLaunchConfiguration({ type: 'hyperstep', name: 'A', request: 'attach', program: 'x.asm' }, asmEditor);
  assert.ok('error' in attach);
  assert.match(attach.error, /only launch/);
  const config = { type: 'hyperstep', name: 'K', request: 'launch', program: '${workspaceFolder}/k.asm', mode: 'flat32', org: '0x100000' };
  const r = resolveLaunchConfiguration(config, undefined);
  assert.ok('config' in r);
  assert.equal(r.config, config);
});

test('guest sources are recognised by language id or extension', () => {
  assert.ok(isGuestSource({ fileName: 'x.ASM', languageId: 'plaintext' }));
  assert.ok(isGuestSource({ fileName: 'x.nasm', languageId: 'plaintext' }));
  assert.ok(isGuestSource({ fileName: 'untitled-1', languageId: 'nasm' }));
  assert.ok(!isGuestSource({ fileName: 'x.c', languageId: 'c' }));
});
