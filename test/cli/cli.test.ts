// The `hyperstep` command as users and graders call it: through the built
// dist/cli.js, checking output, JSON and exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, cli, scratch } from './harness';

const tmp = scratch('cli');
const file = tmp.write;

test('the CLI is built', () => {
  assert.ok(existsSync(CLI), 'run npm run build first');
});

test('run --bare --json reports the demo guest: console, POST codes, final state', () => {
  const r = cli('run', 'examples/demo/boot.asm', '--bare', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.stop.reason, 'hlt');
  assert.match(j.console.com1, /booted in real mode\r\nSwitched to 32-bit protected mode\r\nPaging on/);
  assert.equal(j.console.e9, 'hello from port 0xE9\n');
  assert.deepEqual(j.console.post, [0x01, 0x02, 0x03, 0xff]);
  assert.equal(j.state.cs, 0x08);
  assert.equal(j.state.ds, 0x10);
  assert.equal(j.state.cr0 & 0x80000001, 0x80000001 | 0, 'PE and PG set');
  assert.equal(j.state.cr3, 0x10000);
  assert.equal(j.state.eax & 0xff, 0xff, 'AL holds the last POST code sent');
});

test('run prints console output and a register dump, exit 0', () => {
  const r = cli('run', 'examples/demo/boot.asm');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Hyperstep demo: booted in real mode/);
  assert.match(r.stdout, /POST codes: 01 02 03 FF/);
  assert.match(r.stdout, /stopped: hlt/);
  assert.match(r.stdout, /EAX=[0-9A-F]{8}/);
});

test('malformed assembly: every error as file:line:col, exit 1, nothing run', () => {
  const p = file('bad.asm', 'bits 16\nmov ax, bx\nfrobnicate ax\nmov ax,\njmp nowhere\n');
  const r = cli('run', p);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.asm:3:\d+: error: /);
  assert.match(r.stderr, /bad\.asm:4:\d+: error: /);
  assert.match(r.stderr, /bad\.asm:5:\d+: error: .*nowhere/);
  assert.equal(r.stdout, '');
});

test('a runaway guest stops at --max-instructions with exit 4', () => {
  const p = file('spin.asm', 'bits 16\norg 0x7c00\nspin: jmp spin\n');
  const r = cli('run', p, '--max-instructions', '12345', '--json');
  assert.equal(r.code, 4);
  const j = JSON.parse(r.stdout);
  assert.equal(j.stop.reason, 'limit');
  assert.equal(j.instructions, 12345);
});

test('a triple fault ends the run with exit 3 and a reason', () => {
  // Protected mode with an empty IDT: the first exception cannot be delivered.
  const p = file('tf.asm', [
    'bits 16', 'org 0x7c00', 'cli', 'lgdt [gd]', 'lidt [id]', 'mov eax, cr0', 'or al, 1', 'mov cr0, eax', 'jmp 8:pm',
    'bits 32', 'pm: ud2',
    'align 8', 'gdt: dq 0, 0x00CF9A000000FFFF', 'gd: dw 15', 'dd gdt', 'id: dw 0', 'dd 0',
  ].join('\n'));
  const r = cli('run', p, '--json');
  assert.equal(r.code, 3, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.stop.reason, 'triple-fault');
  assert.ok(j.stop.message.length > 0);
});

test('flat32 mode (bare) loads at the source org and starts in 32-bit ring 0', () => {
  const p = file('flat.asm', 'bits 32\norg 0x200000\nmov eax, 0x12345678\nmov [data], eax\nmov dx, 0xe9\nmov al, 0x41\nout dx, al\ncli\nhlt\ndata: dd 0\n');
  const r = cli('run', p, '--bare', '--mode', 'flat32', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.console.e9, 'A');
  assert.equal(j.state.eax, 0x12345641);
  assert.equal(j.state.cpl, 0);
  assert.equal(j.loadAddress, 0x200000);
});

test('raw binaries run too; a truncated instruction is a clear stop, not a crash', () => {
  const bin = file('trunc.bin', new Uint8Array([0x66, 0xb8, 0x34])); // mov eax, imm32 cut short
  const r = cli('run', bin, '--max-instructions', '1000', '--json');
  assert.ok([0, 3, 4].includes(r.code), `exit ${r.code}: ${r.stderr}`);
  const j = JSON.parse(r.stdout);
  assert.ok(['hlt', 'triple-fault', 'limit'].includes(j.stop.reason));
});

test('a ROM image must be 64 or 128 KiB', () => {
  const r = cli('run', file('small.rom', new Uint8Array(1000)), '--rom');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /64 KiB or 128 KiB/);
});

test('a ROM boots from the reset vector F000:FFF0', () => {
  const rom = new Uint8Array(0x10000).fill(0xff);
  // At FFF0: mov al, 0x52; out 0xe9, al; cli; hlt
  rom.set([0xb0, 0x52, 0xe6, 0xe9, 0xfa, 0xf4], 0xfff0);
  const r = cli('run', file('bios.rom', rom), '--rom', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.console.e9, 'R');
  assert.equal(j.state.cs, 0xf000);
});

test('usage errors name the problem, exit 2', () => {
  assert.equal(cli('run').code, 2);
  const r = cli('run', 'examples/demo/boot.asm', '--mode', 'long');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--mode must be real or flat32/);
  assert.match(cli('frobnicate').stderr, /unknown command/);
  assert.match(cli('run', 'x.asm', '--nope').stderr, /unknown option --nope/);
});

test('asm writes the binary and a listing; disasm reads it back', () => {
  const src = file('small.asm', 'bits 16\norg 0x7c00\nstart: mov ax, 0x1234\nadd ax, 1\njmp short start\n');
  const out = join(tmp.dir, 'small.bin');
  const lst = join(tmp.dir, 'small.lst');
  const a = cli('asm', src, '-o', out, '--listing', lst);
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual([...readFileSync(out)], [0xb8, 0x34, 0x12, 0x83, 0xc0, 0x01, 0xeb, 0xf8]);
  assert.match(readFileSync(lst, 'utf8'), /mov ax, 0x1234/);
  const d = cli('disasm', out, '--bits', '16', '--org', '0x7c00');
  assert.equal(d.code, 0, d.stderr);
  const lines = d.stdout.trim().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^00007C00\s+B83412\s+mov ax,0x1234$/);
  assert.match(lines[1], /^00007C03\s+83C001\s+add ax,byte \+0x1$/);
  assert.match(lines[2], /^00007C06\s+EBF8\s+jmp short 0x7c00$/);
});

test('npm start runs the demo and narrates it', () => {
  const r = cli('demo');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /CR0\.PE set/);
  assert.match(r.stdout, /CR0\.PG set: paging on/);
  assert.match(r.stdout, /memory\[0x12000\] = 5050/);
});
