// Data breakpoints: on guest memory (guest-virtual, guest-physical through a
// paging alias), on VMCS fields, with conditions and hit counts, cleared, the
// guest's own DR0 breakpoint unaffected; the DAP requests in process and once
// through the bundled dist/adapter.js.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import { startSession, launch, nextStop, runAndStop, topLine, value, frames, GUESTS } from './transcripts/harness';
import type { DapClient } from './dapClient';
import { parseDataId, resolveTarget, dataIdOf } from '../../src/debug/dataBreakpoints';
import { Machine } from '../../src/x86/machine';
import { assemble } from '../../src/x86/asm/index';
import type { DebugWatchHit } from '../../src/x86/cpu/cpu';

const MEM = [
  '        bits 32', //  1
  '        org 0x1000', //  2
  'start:  mov eax, 0x11111111', //  3
  '        mov [0x3000], eax', //  4  write inside the watch
  '        mov ebx, [0x3004]', //  5  read just after it
  '        mov ebx, [0x3000]', //  6  read inside
  '        mov dword [0x2ffc], 5', //  7  write just before it
  '        mov ecx, 0', //  8
  'again:  inc ecx', //  9
  '        mov [0x3000], ecx', // 10
  '        cmp ecx, 5', // 11
  '        jb again', // 12
  'done:   hlt', // 13
].join('\n');

// Paging on: linear 0x400000 is an alias of physical 0x3000 (PDE[1] -> PT at 0x12000, PTE[0] -> 0x3000).
const ALIAS = [
  '        bits 32', //  1
  '        org 0x1000', //  2
  'start:  mov edi, 0x11000', //  3
  '        mov eax, 0x003', //  4
  '        mov ecx, 1024', //  5
  'fill:   stosd', //  6
  '        add eax, 0x1000', //  7
  '        loop fill', //  8
  '        mov dword [0x10000], 0x11003', //  9
  '        mov dword [0x10004], 0x12003', // 10
  '        mov dword [0x12000], 0x3003', // 11
  '        mov eax, 0x10000', // 12
  '        mov cr3, eax', // 13
  '        mov eax, cr0', // 14
  '        or eax, 0x80000000', // 15
  '        mov cr0, eax', // 16
  '        mov dword [0x400000], 0xA11A5', // 17  write through the alias
  '        mov eax, [0x3000]', // 18
  '        hlt', // 19
].join('\n');

// The guest's own data breakpoint: DR0 on a dword at 0x3000 (write), its #DB handler marks 0x5000.
const GUEST_DR = [
  '        bits 32', //  1
  '        org 0x1000', //  2
  'start:  mov eax, db_handler', //  3
  '        mov [0x6008], ax', //  4
  '        mov word [0x600a], cs', //  5
  '        mov word [0x600c], 0x8E00', //  6
  '        shr eax, 16', //  7
  '        mov [0x600e], ax', //  8
  '        lidt [idtr]', //  9
  '        mov eax, 0x3000', // 10
  '        mov dr0, eax', // 11
  '        mov eax, 0x000D0001', // 12
  '        mov dr7, eax', // 13
  '        mov dword [0x3000], 7', // 14
  'done:   nop', // 15
  '        hlt', // 16
  'db_handler:', // 17
  '        mov dword [0x5000], 0xDB', // 18
  '        iret', // 19
  'idtr:   dw 0x7f', // 20
  '        dd 0x6000', // 21
].join('\n');

const FILES = { ...GUESTS, '/g/mem.asm': MEM, '/g/alias.asm': ALIAS, '/g/guestdr.asm': GUEST_DR };

async function dataId(c: DapClient, args: Record<string, unknown>): Promise<DebugProtocol.DataBreakpointInfoResponse['body']> {
  const r = await c.request('dataBreakpointInfo', args);
  assert.equal(r.success, true, r.message);
  return r.body as DebugProtocol.DataBreakpointInfoResponse['body'];
}

async function setData(c: DapClient, breakpoints: DebugProtocol.DataBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
  const r = await c.request('setDataBreakpoints', { breakpoints });
  assert.equal(r.success, true, r.message);
  return (r.body as DebugProtocol.SetDataBreakpointsResponse['body']).breakpoints;
}

/** Launched, stopped on entry. */
async function atEntry(program: string): Promise<DapClient> {
  const c = startSession(FILES);
  const r = await launch(c, { program, mode: 'flat32', stopOnEntry: true });
  assert.equal(r.success, true, r.message);
  assert.equal((await nextStop(c, 0))?.body.reason, 'entry');
  return c;
}

async function runToEnd(c: DapClient): Promise<void> {
  const stop = await runAndStop(c, 'continue');
  assert.equal(stop, undefined, `expected the guest to end, got a stop: ${stop?.body.description}`);
}

describe('data breakpoint ids and targets', () => {
  test('memory operands, references and VMCS names resolve; ids round-trip', () => {
    const eval0 = (e: string): number => (e.trim() === 'esi' ? 0x2000 : Number(e));
    assert.deepEqual(resolveTarget('dword [esi]', undefined, eval0), { kind: 'memory', space: 'gva', address: 0x2000, size: 4 });
    assert.deepEqual(resolveTarget('byte [0x10]', undefined, eval0), { kind: 'memory', space: 'gva', address: 0x10, size: 1 });
    assert.deepEqual(resolveTarget('gpa:0x3000', 8, undefined), { kind: 'memory', space: 'gpa', address: 0x3000, size: 8 });
    assert.deepEqual(resolveTarget('0x7C00', 2, undefined, true), { kind: 'memory', space: 'gva', address: 0x7c00, size: 2 });
    assert.deepEqual(resolveTarget('GUEST_RIP (0x681E)', undefined, undefined), { kind: 'vmcs', field: 'GUEST_RIP' });
    assert.deepEqual(resolveTarget('vmcs.CR0_READ_SHADOW', undefined, undefined), { kind: 'vmcs', field: 'CR0_READ_SHADOW' });
    assert.ok('error' in resolveTarget('eax', undefined, eval0));
    assert.ok('error' in resolveTarget('vmcs NO_SUCH_FIELD', undefined, undefined));
    for (const t of [{ kind: 'memory', space: 'hpa', address: 0x1f400000, size: 16 }, { kind: 'vmcs', field: 'VM_EXIT_REASON' }] as const) {
      assert.deepEqual(parseDataId(dataIdOf(t)), t);
    }
    assert.equal(parseDataId('mem:gva:0x10:0'), undefined);
  });
});

describe('the CPU watch channel (cpu.debugWatch)', () => {
  function machine(): Machine {
    const r = assemble(MEM, { fileName: 'mem.asm', bits: 32, org: 0x1000 });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    const m = new Machine({ memorySize: 1 << 20 });
    m.loadFlat32(r.bytes, 0x1000);
    return m;
  }

  test('hits end the run after the accessing instruction when onHits says so, with its EIP; DR6 untouched; removing the watches restores the plain MMU', () => {
    const m = machine();
    const seen: { hits: DebugWatchHit[]; eip: number }[] = [];
    m.cpu.debugWatch.onHits = (hits) => {
      seen.push({ hits, eip: m.cpu.debugWatch.eip });
      return true;
    };
    m.cpu.debugWatch.set([{ id: 7, lo: 0x3000, hi: 0x3003, physical: false, read: false, write: true }]);
    assert.equal(m.cpu.mmu.debugWatching, true);
    let s = m.run(1000);
    assert.equal(s.reason, 'breakpoint');
    assert.equal(s.eip, 0x100a);
    assert.deepEqual(seen, [{ hits: [{ id: 7, linear: 0x3000, physical: 0x3000, write: true }], eip: 0x1005 }]);
    assert.equal(m.cpu.dr[6] >>> 0, 0xffff0ff0);
    // Not stopping: the run goes on (the loop's writes are seen too).
    m.cpu.debugWatch.onHits = (hits) => {
      seen.push({ hits, eip: m.cpu.debugWatch.eip });
      return false;
    };
    s = m.run(1000);
    assert.equal(s.reason, 'hlt');
    assert.equal(seen.length, 6);
    m.cpu.debugWatch.set([]);
    assert.equal(m.cpu.mmu.debugWatching, false);
    assert.equal(m.cpu.debugActive, false);
  });

  test('a watch matches the accesses that overlap it, by their width: bytes just below it do not', () => {
    // Watch 0x3004..0x3007; accesses around it, each followed by a NOP marker of its own.
    const src = [
      'mov byte [0x3003], 1',   // below, 1 byte: no
      'mov word [0x3002], 1',   // below, 2 bytes (0x3002-0x3003): no
      'mov dword [0x3000], 1',  // below, 4 bytes (0x3000-0x3003): no
      'mov word [0x3003], 1',   // 0x3003-0x3004: yes
      'mov dword [0x3001], 1',  // 0x3001-0x3004: yes
      'mov byte [0x3007], 1',   // last byte: yes
      'mov byte [0x3008], 1',   // above: no
      'mov eax, [0x3002]',      // a read, with a write-only watch: no
      'cli',
      'hlt',
    ].join('\n');
    const r = assemble(src, { fileName: 'width.asm', bits: 32, org: 0x1000 });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    const m = new Machine({ memorySize: 1 << 20 });
    m.loadFlat32(r.bytes, 0x1000);
    const at: number[] = [];
    m.cpu.debugWatch.onHits = () => {
      at.push(m.cpu.debugWatch.eip);
      return false;
    };
    m.cpu.debugWatch.set([{ id: 1, lo: 0x3004, hi: 0x3007, physical: false, read: false, write: true }]);
    assert.equal(m.run(1000).reason, 'hlt');
    // Instruction addresses: 7 + 9 + 10 bytes before the first hit, then 9 and 10 and 7.
    const starts: number[] = [];
    let a = 0x1000;
    for (const len of [7, 9, 10, 9, 10, 7, 7, 5]) { starts.push(a); a += len; }
    assert.deepEqual(at, [starts[3], starts[4], starts[5]]);
  });
});

describe('data breakpoints on guest memory', () => {
  test('initialize announces data breakpoints with bytes and asAddress', async () => {
    const c = startSession(FILES);
    const init = await c.initialize();
    const caps = init.body as DebugProtocol.Capabilities;
    assert.equal(caps.supportsDataBreakpoints, true);
    assert.equal(caps.supportsDataBreakpointBytes, true);
  });

  test('a write watch stops after the writing instruction, not for accesses outside its range; the guest DR6 stays as it was', async () => {
    const c = await atEntry('/g/mem.asm');
    const info = await dataId(c, { name: 'dword [0x3000]' });
    assert.equal(info.dataId, 'mem:gva:0x3000:4');
    assert.deepEqual(info.accessTypes, ['write', 'read', 'readWrite']);
    const [bp] = await setData(c, [{ dataId: info.dataId as string, accessType: 'write' }]);
    assert.equal(bp.verified, true, bp.message);
    let stop = await runAndStop(c, 'continue');
    assert.equal(stop?.body.reason, 'data breakpoint');
    assert.deepEqual(stop?.body.hitBreakpointIds, [bp.id]);
    assert.match(stop?.body.description ?? '', /^Data breakpoint: write to gva 0x3000 by 'mov \[0x3000\], ?eax' at 0x1005 \[gva 0x3000\.\.0x3003 \(4 bytes\)\]$/);
    assert.equal(await topLine(c), 5);
    assert.equal(await value(c, 'dword [0x3000]'), '0x11111111');
    assert.equal(await value(c, 'dr6'), '0xFFFF0FF0');
    // The read at line 6 and the write to 0x2FFC at line 7 do not stop; the loop's first write does.
    stop = await runAndStop(c, 'continue');
    assert.equal(stop?.body.reason, 'data breakpoint');
    assert.equal(await topLine(c), 11);
    assert.equal(await value(c, 'ecx'), '0x1');
  });

  test('a read watch stops after the reading instruction only', async () => {
    const c = await atEntry('/g/mem.asm');
    const info = await dataId(c, { name: '0x3000', asAddress: true, bytes: 4 });
    assert.equal(info.dataId, 'mem:gva:0x3000:4');
    await setData(c, [{ dataId: info.dataId as string, accessType: 'read' }]);
    const stop = await runAndStop(c, 'continue');
    assert.equal(stop?.body.reason, 'data breakpoint');
    assert.match(stop?.body.description ?? '', /read of gva 0x3000/);
    assert.equal(await topLine(c), 7);
    await runToEnd(c);
  });

  test('set before the launch: pending, then placed; placed again after restart', async () => {
    const c = startSession(FILES);
    await c.initialize();
    const launched = c.request('launch', { program: '/g/mem.asm', mode: 'flat32' });
    await c.event('initialized');
    const [pending] = await setData(c, [{ dataId: 'mem:gva:0x3000:4', accessType: 'write' }]);
    // The launch has assembled the program by now, or the book says it is pending.
    assert.ok(pending.verified || pending.reason === 'pending');
    await c.request('configurationDone');
    assert.equal((await launched).success, true);
    assert.equal((await nextStop(c, 0))?.body.reason, 'data breakpoint');
    assert.equal(await topLine(c), 5);
    const seen = c.events('stopped').length;
    assert.equal((await c.request('restart', {})).success, true);
    const again = await nextStop(c, seen);
    assert.equal(again?.body.reason, 'data breakpoint');
    assert.equal(await topLine(c), 5);
  });

  test('condition and hit count; clearing', async () => {
    let c = await atEntry('/g/mem.asm');
    const id = 'mem:gva:0x3000:4';
    await setData(c, [{ dataId: id, accessType: 'write', condition: 'ecx == 3' }]);
    let stop = await runAndStop(c, 'continue');
    assert.equal(stop?.body.reason, 'data breakpoint');
    assert.equal(await value(c, 'ecx'), '0x3');
    // Hit count: the 4th write (line 4, then ecx = 1, 2, 3).
    c = await atEntry('/g/mem.asm');
    await setData(c, [{ dataId: id, accessType: 'write', hitCondition: '== 4' }]);
    stop = await runAndStop(c, 'continue');
    assert.equal(stop?.body.reason, 'data breakpoint');
    assert.equal(await value(c, 'ecx'), '0x3');
    // Cleared: the guest runs to its end.
    await setData(c, []);
    await runToEnd(c);
    // A bad condition is refused with its column.
    c = await atEntry('/g/mem.asm');
    const [bad] = await setData(c, [{ dataId: id, condition: 'ecx ==' }]);
    assert.equal(bad.verified, false);
    assert.match(bad.message ?? '', /^Condition: .*column/);
  });

  test('a gpa watch sees a write through another linear alias (paging on); a gva watch on the same number does not', async () => {
    let c = await atEntry('/g/alias.asm');
    const [bp] = await setData(c, [{ dataId: 'mem:gpa:0x3000:4', accessType: 'write' }]);
    assert.equal(bp.verified, true, bp.message);
    const stop = await runAndStop(c, 'continue');
    assert.equal(stop?.body.reason, 'data breakpoint');
    assert.match(stop?.body.description ?? '', /write to gpa 0x3000 .*at 0x/);
    assert.equal(await topLine(c), 18);
    assert.equal(await value(c, 'dword [0x3000]'), '0xA11A5');
    c = await atEntry('/g/alias.asm');
    await setData(c, [{ dataId: 'mem:gva:0x3000:4', accessType: 'write' }]);
    await runToEnd(c);
  });

  test('a watch on the stack slot a CALL writes, from an expression resolved at set time: next over the call stops inside it', async () => {
    const c = startSession(FILES);
    await launch(c, { program: '/g/calls.asm', mode: 'flat32' }, { breakpoints: { '/g/calls.asm': [{ line: 7 }] } });
    assert.equal((await nextStop(c, 0))?.body.reason, 'breakpoint');
    const esp = Number(await value(c, 'esp'));
    const info = await dataId(c, { name: 'dword [esp - 4]' });
    assert.equal(info.dataId, `mem:gva:0x${(esp - 4).toString(16).toUpperCase()}:4`);
    await setData(c, [{ dataId: info.dataId as string, accessType: 'write' }]);
    const stop = await runAndStop(c, 'next');
    assert.equal(stop?.body.reason, 'data breakpoint');
    assert.match(stop?.body.description ?? '', /by 'call /);
    assert.equal(await topLine(c), 15);
  });

  test("the guest's own DR0 breakpoint still raises its #DB", async () => {
    const c = startSession(FILES);
    await launch(c, { program: '/g/guestdr.asm', mode: 'flat32', stopOnEntry: true }, { functionBreakpoints: ['done'] });
    assert.equal((await nextStop(c, 0))?.body.reason, 'entry');
    await setData(c, [{ dataId: 'mem:gva:0x3000:4', accessType: 'write' }]);
    const stop = await runAndStop(c, 'continue');
    assert.equal(stop?.body.reason, 'data breakpoint');
    assert.match(stop?.body.description ?? '', /by 'mov dword \[(dword )?0x3000\], ?0x7' at 0x/);
    const end = await runAndStop(c, 'continue');
    assert.equal(end?.body.reason, 'function breakpoint');
    assert.equal(await value(c, 'dword [0x5000]'), '0xDB');
    assert.equal((Number(await value(c, 'dr6')) & 1), 1);
  });
});

describe('data breakpoints on VMCS fields', () => {
  test('CR0_READ_SHADOW changed by the CR-access handler: stops where the guest resumes, with old and new value', async () => {
    const c = await atEntry('/g/alias.asm');
    const info = await dataId(c, { name: 'CR0_READ_SHADOW (0x6004)' });
    assert.equal(info.dataId, 'vmcs:CR0_READ_SHADOW');
    assert.deepEqual(info.accessTypes, ['write']);
    const [bp] = await setData(c, [{ dataId: info.dataId as string, accessType: 'write' }]);
    assert.equal(bp.verified, true, bp.message);
    const stop = await runAndStop(c, 'continue');
    assert.equal(stop?.body.reason, 'data breakpoint');
    assert.match(stop?.body.description ?? '', /VMCS CR0_READ_SHADOW changed 0x60000011 → 0xE0000011 by the exit handler/);
    assert.equal(await topLine(c), 17);
    // No other change to it: the guest runs to its end.
    await runToEnd(c);
  });

  test('dataBreakpointInfo for a variable of the VMCS scope; a register variable is not watchable', async () => {
    const c = await atEntry('/g/alias.asm');
    const f = await frames(c);
    const scopes = ((await c.request('scopes', { frameId: f[0].id })).body as DebugProtocol.ScopesResponse['body']).scopes;
    const list = async (ref: number): Promise<DebugProtocol.Variable[]> => ((await c.request('variables', { variablesReference: ref })).body as DebugProtocol.VariablesResponse['body']).variables;
    const groups = await list(scopes.find((s) => s.name === 'VMCS')?.variablesReference ?? 0);
    const controls = groups.find((g) => g.name === 'VM-execution control fields');
    const field = (await list(controls?.variablesReference ?? 0)).find((v) => v.name.startsWith('CR0_READ_SHADOW'));
    assert.equal(field?.evaluateName, 'vmcs CR0_READ_SHADOW');
    const info = await dataId(c, { variablesReference: controls?.variablesReference, name: field?.name });
    assert.equal(info.dataId, 'vmcs:CR0_READ_SHADOW');
    assert.match(info.description, /VMCS CR0_READ_SHADOW changes/);
    const regs = await list(scopes.find((s) => s.name === 'Registers')?.variablesReference ?? 0);
    const eax = regs.find((v) => v.name.toLowerCase() === 'eax');
    const none = await dataId(c, { variablesReference: scopes[0].variablesReference, name: eax?.name });
    assert.equal(none.dataId, null);
    assert.match(none.description, /dword \[esi\]/);
  });

  test('VM_EXIT_REASON with a condition on the new exit: reads of a watch on a field are refused', async () => {
    const c = await atEntry('/g/cpuid.asm');
    const [bad] = await setData(c, [{ dataId: 'vmcs:VM_EXIT_REASON', accessType: 'read' }]);
    assert.equal(bad.verified, false);
    await setData(c, [{ dataId: 'vmcs:VM_EXIT_REASON', accessType: 'write', condition: 'vmcs.VM_EXIT_REASON == 10' }]);
    const stop = await runAndStop(c, 'continue');
    assert.equal(stop?.body.reason, 'data breakpoint');
    assert.match(stop?.body.description ?? '', /VM_EXIT_REASON changed 0x0 → 0xA at VM exit 10 CPUID/);
    // The second CPUID leaves it at 10: the next change is to the HLT exit, which the condition refuses.
    await runToEnd(c);
  });
});

describe('dist/adapter.js', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const adapter = join(root, 'dist', 'adapter.js');
  let dir = '';
  before(() => {
    if (!existsSync(adapter)) spawnSync(process.execPath, ['scripts/build.mjs', '--quiet'], { cwd: root, stdio: 'inherit' });
    dir = mkdtempSync(join(tmpdir(), 'hyperstep-data-'));
    writeFileSync(join(dir, 'mem.asm'), MEM);
  });
  after(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  test('dataBreakpointInfo, setDataBreakpoints and a write watch stop over stdio', async () => {
    const dc = new DebugClient(process.execPath, adapter, 'hyperstep', { cwd: root });
    dc.defaultTimeout = 20_000;
    await dc.start();
    try {
      const program = join(dir, 'mem.asm');
      await Promise.all([dc.configurationSequence(), dc.launch({ program, mode: 'flat32', stopOnEntry: true }), dc.assertStoppedLocation('entry', { path: program, line: 3 })]);
      const info = await dc.dataBreakpointInfoRequest({ name: 'dword [0x3000]' });
      assert.equal(info.body.dataId, 'mem:gva:0x3000:4');
      const set = await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: 'mem:gva:0x3000:4', accessType: 'write' }] });
      assert.equal(set.body.breakpoints[0].verified, true);
      await Promise.all([dc.continueRequest({ threadId: 1 }), dc.assertStoppedLocation('data breakpoint', { line: 5 })]);
    } finally {
      await dc.stop();
    }
  });
});
