// The session under the software techniques (trap-and-emulate, binary
// translation, paravirt), in process: the virtualization-hole and VMM-trap
// filters, the thread and frames of a stop there, the Registers, Virtual CPU
// and Technique scopes, the console commands, breakpoints and stepping where
// the VMM traps or translates, memory in the three address spaces, pause
// and restart, that VT-x has no holes, and the Hyperstep view's trap batches
// and VMM statistics.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { startSession, launch, nextStop, runAndStop, frames, topLine, evaluate, value } from './transcripts/harness';
import type { DapClient } from './dapClient';
import { EXPECTED_CONSOLE, SOFT_FILES, lineOf } from './softGuests';
import { EXIT_EVENT, SOFT_STATS_EVENT, STATE_EVENT, STATS_EVENT, TRAP_EVENT, type SoftStatsEventBody, type StateEventBody, type TrapBatchEventBody } from '../../src/debug/protocol';

const KERNEL = { program: '/t/kernel.asm' };
const POPF_LINE = lineOf(SOFT_FILES, '/t/kernel.asm', 'popfd ');
const HOLE = { filterId: 'virtualization-hole' };

type Variable = DebugProtocol.Variable;

async function scopes(c: DapClient, frameId = 1000): Promise<DebugProtocol.Scope[]> {
  const r = await c.request('scopes', { frameId });
  assert.equal(r.success, true, r.message);
  return (r.body as DebugProtocol.ScopesResponse['body']).scopes;
}

async function children(c: DapClient, ref: number): Promise<Variable[]> {
  const r = await c.request('variables', { variablesReference: ref });
  assert.equal(r.success, true, r.message);
  return (r.body as DebugProtocol.VariablesResponse['body']).variables;
}

/** The variables under a scope and a path of variable names (a name matches exactly or as a prefix before a space). */
async function at(c: DapClient, scope: string, ...path: string[]): Promise<Variable[]> {
  const s = (await scopes(c)).find((x) => x.name === scope);
  assert.ok(s, `no scope ${scope}`);
  let list = await children(c, s.variablesReference);
  for (const name of path) {
    const v = list.find((x) => x.name === name || x.name.startsWith(`${name} `));
    assert.ok(v, `no '${name}' among ${list.map((x) => x.name).join(', ')}`);
    list = await children(c, v.variablesReference);
  }
  return list;
}

const find = (list: Variable[], name: string): Variable => {
  const v = list.find((x) => x.name === name || x.name.startsWith(`${name} `));
  assert.ok(v, `no '${name}' among ${list.map((x) => x.name).join(', ')}`);
  return v;
};

async function result(c: DapClient, expression: string): Promise<DebugProtocol.Response> {
  return evaluate(c, expression, 'repl');
}

describe('trap-and-emulate: the virtualization-hole filter', () => {
  test('stops right after the critical section\'s POPF with the hole\'s frame, exception information and scopes', async () => {
    const c = startSession(SOFT_FILES);
    const launched = await launch(c, { ...KERNEL, technique: 'trap-and-emulate' }, { exceptionFilters: [HOLE] });
    assert.equal(launched.success, true, launched.message);
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'exception');
    assert.equal(stop?.body.description, 'Virtualization hole: popf');
    assert.match(stop?.body.text ?? '', /the guest saw virtual IF=0 .*it expected IF=1/);
    const threads = (await c.request('threads')).body as DebugProtocol.ThreadsResponse['body'];
    assert.deepEqual(threads.threads, [{ id: 1, name: 'vCPU 0 · trap-and-emulate · guest ring 0 (runs in ring 1)' }]);
    // The hole's frame points at the POPF; the guest stands at the instruction after it.
    const f = await frames(c);
    assert.match(f[0].name, /^Virtualization hole · popf \(0x[0-9A-F]{8}\)$/);
    assert.equal(f[0].presentationHint, 'label');
    const popf = Number(f[0].instructionPointerReference);
    assert.equal(f[1].line, POPF_LINE + 1);
    assert.equal(Number(f[1].instructionPointerReference), popf + 1);
    const info = (await c.request('exceptionInfo', { threadId: 1 })).body as DebugProtocol.ExceptionInfoResponse['body'];
    assert.equal(info.exceptionId, 'virtualization-hole');
    assert.match(info.description ?? '', /^Virtualization hole: popf at 0x[0-9A-F]{8} did not trap\. The guest saw virtual IF=0 IOPL=0 kept .*; it expected IF=1 IOPL=0 from the popped 0x00000202\. POPF in ring 1 with IOPL 0 silently ignores/);
    assert.match(info.details?.message ?? '', /^Instruction: popf at 0x[0-9A-F]{8} \(1 byte\)\nThe guest saw: .*\nIt expected: .*\nWhy: /);
    assert.equal(info.details?.typeName, 'Virtualization hole');
    // Scopes: the hole, the real registers, the virtual CPU, the technique; no VT-x view.
    assert.deepEqual((await scopes(c)).map((s) => s.name), ['Virtualization hole', 'Registers', 'Virtual CPU', 'Technique', 'Devices']);
    assert.equal(find(await at(c, 'Virtualization hole'), 'instruction').value, 'popf');
    const virtual = await at(c, 'Virtual CPU');
    assert.equal(find(virtual, 'IF').value, '0 (real: 1)');
    assert.equal(find(virtual, 'CPL').value, '0 (kernel; runs in ring 1)');
    assert.match(find(virtual, 'GDTR').value, /\(real: base 0xFFC00000 /);
    const regs = await at(c, 'Registers', 'Segments', 'CS');
    assert.match(find(regs, 'selector').value, /^0x0009$/, 'the kernel\'s CS 0x08 with RPL 1: ring compression');
    const technique = await at(c, 'Technique');
    assert.match(find(technique, 'Virtualization holes').value, /^1 hole; the last: popf at 0x/);
    assert.match(find(technique, 'Traps into the VMM').value, /traps, [\d,]+ modelled cycles$/);
    assert.equal(find(technique, 'VMCS, EPT, exit statistics').value, 'none under trap-and-emulate: there is no VMX; the traps above are its VM exits');
    // Expressions: the real CPL and IF against the virtual ones.
    assert.equal(await value(c, 'cpl'), '0x1');
    assert.equal(await value(c, 'if'), '0x1');
    assert.equal(await value(c, 'vif'), '0x0');
    assert.equal(await value(c, 'instruction == "POPF"'), '0x1');
    assert.equal(await value(c, `rip == ${popf}`), '0x1');
    // The next hole: the next critical section's PUSHF shows the real IF = 1 where the guest has 0.
    const next = await runAndStop(c, 'continue');
    assert.equal(next?.body.description, 'Virtualization hole: pushf');
    await c.request('terminate');
  });

  test('a condition picks the holes to stop at; the console lists them', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { ...KERNEL, technique: 'trap-and-emulate' }, { exceptionFilters: [{ ...HOLE, condition: 'instruction == "pushf"' }] });
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.description, 'Virtualization hole: pushf');
    const holes = await result(c, 'holes');
    assert.equal(holes.success, true, holes.message);
    assert.match((holes.body as { result: string }).result, /^2 holes so far:\n#1 0x[0-9A-F]{8} popf: saw .*\n#2 0x[0-9A-F]{8} pushf: saw pushed IF=1 IOPL=0 \(the real flags\); expected IF=0 IOPL=0 \(its own\)$/);
    const traps = await result(c, 'traps');
    assert.match((traps.body as { result: string }).result, /#GP: cli +1 /);
    const vmcs = await result(c, 'vmcs');
    assert.equal(vmcs.success, false);
    assert.match(vmcs.message ?? '', /^'vmcs' is a VT-x command: the guest runs under trap-and-emulate, which has no VMX/);
    const block = await result(c, 'block');
    assert.match(block.message ?? '', /only binary-translation translates code/);
    const completions = (await c.request('completions', { text: 'ho', column: 3 })).body as DebugProtocol.CompletionsResponse['body'];
    assert.deepEqual(completions.targets.map((t) => t.label), ['holes']);
    const names = (await c.request('completions', { text: 'v', column: 2 })).body as DebugProtocol.CompletionsResponse['body'];
    assert.ok(names.targets.some((t) => t.label === 'vif'));
    await c.request('terminate');
  });
});

describe('the VMM-trap filter', () => {
  test('trap-and-emulate: a condition over the trap\'s kind stops where the guest resumes after the emulated CLI', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { program: '/s/soft.asm', technique: 'trap-and-emulate' }, { exceptionFilters: [{ filterId: 'vmm-trap', condition: 'kind == "#GP" && detail == "cli" && ecx == 2' }] });
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.description, 'VMM trap: #GP: cli');
    assert.equal(await topLine(c), 7);
    assert.equal(await value(c, 'ecx'), '0x2');
    assert.equal(await value(c, 'vector'), '0xD');
    assert.equal((await frames(c))[0].name, 'VMM trap · #GP: cli (0x0000100B)');
    const info = (await c.request('exceptionInfo', { threadId: 1 })).body as DebugProtocol.ExceptionInfoResponse['body'];
    assert.equal(info.exceptionId, 'vmm-trap #GP');
    assert.match(info.details?.message ?? '', /^Trap: #GP: cli \(kind #GP, detail cli, vector 0x0D\)/);
    assert.equal(find(await at(c, 'VMM trap'), 'kind').value, '#GP');
    const text = await evaluate(c, 'kind + 1', 'watch');
    assert.match(text.message ?? '', /'kind' is text: compare it with == or !=/);
    await c.request('terminate');
  });

  test('binary translation: the CLI is a callout, not a trap, so the same filter does not stop', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { program: '/s/soft.asm', technique: 'binary-translation' }, { exceptionFilters: [{ filterId: 'vmm-trap', condition: 'kind == "#GP"' }] });
    assert.equal(await nextStop(c, 0), undefined);
    // The debug-exit port is on by default: the guest powers off, and writing 0 is no failure.
    assert.match(c.outputText('console'), /Guest stopped \(shutdown with code 1\)/);
  });
});

describe('binary translation and paravirt', () => {
  test('binary translation: no hole stops the kernel, and its output is the native one', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { ...KERNEL, technique: 'binary-translation' }, { exceptionFilters: [HOLE] });
    assert.equal(await nextStop(c, 0), undefined, 'the filter never fires');
    assert.equal(c.outputText('stdout'), EXPECTED_CONSOLE);
  });

  test('binary translation: at a breakpoint on the POPF, the Technique scope shows its block with the callout', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { ...KERNEL, technique: 'binary-translation' }, { breakpoints: { '/t/kernel.asm': [{ line: POPF_LINE }] } });
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'breakpoint');
    assert.equal(await topLine(c), POPF_LINE);
    const cache = find(await at(c, 'Technique'), 'Translation cache');
    assert.match(cache.value, /^\d+ blocks cached, [\d,]+ chained \/ \d+ lookups, \d+ invalidations$/);
    const block = await at(c, 'Technique', 'Translation cache', 'block at EIP');
    const popf = block.find((v) => / {2}popf$/.test(v.name));
    assert.ok(popf, block.map((v) => v.name).join(', '));
    assert.equal(popf.value, '→  callout: call vmm_popf  ◀ EIP');
    assert.ok(block.some((v) => v.value === '→  native'));
    const text = (await result(c, 'block')).body as { result: string };
    assert.match(text.result, /^block #\d+ at 0x[0-9A-F]{8}: \d+ instructions, 1 callout, run 1 time\n/);
    assert.match(text.result, /\n> 0x[0-9A-F]{8} {2}popf +→ {2}callout: call vmm_popf/);
    assert.equal(await value(c, 'vif'), '0x0', 'the callout has not run yet: CLI cleared the virtual IF');
    await runAndStop(c, 'stepIn', { threadId: 1, granularity: 'instruction' });
    assert.equal(await value(c, 'vif'), '0x1', 'the emulated POPF restored it');
    await c.request('terminate');
  });

  test('paravirt: the hypercall table with its counts, then the native output', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { program: '/t/kernel-pv.asm', technique: 'paravirt' }, { functionBreakpoints: ['print_summary'] });
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'function breakpoint');
    const calls = await at(c, 'Technique', 'Hypercalls');
    assert.match(find(calls, '6 IRQ_DISABLE').value, /^101 calls, [\d,]+ cycles$/);
    assert.match(find(calls, '1 SET_TRAP_TABLE').value, /^1 call, /);
    assert.equal(find(calls, '12 SHUTDOWN').value, 'not called');
    const table = (await result(c, 'hypercalls')).body as { result: string };
    assert.match(table.result, /\n {2}7 IRQ_RESTORE +101 calls\n/);
    assert.equal(await runAndStop(c, 'continue'), undefined);
    assert.equal(c.outputText('stdout'), EXPECTED_CONSOLE);
    assert.match(c.outputText('console'), /Guest stopped \(shutdown with code 0\) .*SHUTDOWN hypercall/);
  });
});

describe('breakpoints and stepping under the software techniques', () => {
  for (const technique of ['trap-and-emulate', 'binary-translation'] as const) {
    test(`${technique}: a breakpoint after the trapped or translated CLI stops every round; line and instruction steps, stepIn and stepOut`, async () => {
      const c = startSession(SOFT_FILES);
      await launch(c, { program: '/s/soft.asm', technique, stopOnEntry: true, vm: 'poweroff.vm.json' }, { breakpoints: { '/s/soft.asm': [{ line: 7 }, { line: 5, logMessage: 'round {ecx}' }] } });
      assert.equal((await nextStop(c, 0))?.body.reason, 'entry');
      assert.equal(await topLine(c), 3);
      const seen: [string | undefined, number][] = [];
      const go = async (command: string, args: Record<string, unknown> = {}): Promise<void> => {
        const s = await runAndStop(c, command, { threadId: 1, ...args });
        seen.push([s?.body.reason, s === undefined ? -1 : await topLine(c)]);
      };
      await go('continue');
      await go('continue');
      await go('next');
      await go('stepIn', { granularity: 'instruction' });
      await go('continue');
      await go('next');
      await go('next');
      await go('stepIn');
      await go('stepIn');
      await go('stepIn');
      await go('stepOut');
      await go('stepOut');
      assert.deepEqual(seen, [
        ['breakpoint', 7], ['breakpoint', 7], ['step', 8], ['step', 5], ['breakpoint', 7], ['step', 8], ['step', 9],
        ['step', 14], ['step', 15], ['step', 17], ['step', 16], ['step', 10],
      ]);
      assert.equal(await value(c, 'ecx'), '0x7');
      assert.equal(await runAndStop(c, 'continue'), undefined);
      // A step that ends on a logpoint does not log, and the run from there starts past it (as under VT-x).
      assert.match(c.outputText('console'), /round 0x0\n[^]*round 0x1\n/);
      assert.doesNotMatch(c.outputText('console'), /round 0x2/);
      assert.match(c.outputText('console'), /Guest stopped \(shutdown with code 1\) after \d+ instructions at CS:EIP 0009:0000101D: debug-exit port: the guest wrote 0, exit status 1/);
    });
  }

  test('conditions, hit counts, function and instruction breakpoints', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { program: '/s/soft.asm', technique: 'trap-and-emulate' }, { breakpoints: { '/s/soft.asm': [{ line: 6, condition: 'ecx == 2' }, { line: 8, hitCondition: '3' }] }, functionBreakpoints: ['inner'] });
    assert.equal((await nextStop(c, 0))?.body.reason, 'breakpoint');
    assert.deepEqual([await topLine(c), await value(c, 'ecx')], [6, '0x2']);
    await runAndStop(c, 'continue');
    assert.deepEqual([await topLine(c), await value(c, 'ecx')], [8, '0x3']);
    const s = await runAndStop(c, 'continue');
    assert.equal(s?.body.reason, 'function breakpoint');
    assert.equal(await topLine(c), 17);
    const r = (await c.request('setInstructionBreakpoints', { breakpoints: [{ instructionReference: '0x1000', offset: 0x1c }] })).body as DebugProtocol.SetInstructionBreakpointsResponse['body'];
    assert.equal(r.breakpoints[0].verified, true);
    const i = await runAndStop(c, 'continue');
    assert.equal(i?.body.reason, 'instruction breakpoint');
    assert.equal(await topLine(c), 12);
    await c.request('terminate');
  });

  test('pause stops a runaway guest promptly; restart launches it again', async () => {
    for (const technique of ['trap-and-emulate', 'binary-translation'] as const) {
      const c = startSession(SOFT_FILES);
      await launch(c, { program: '/s/spin.asm', technique, stopOnEntry: true });
      await nextStop(c, 0);
      const seen = c.events('stopped').length;
      assert.equal((await c.request('continue', { threadId: 1 })).success, true);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await c.request('pause', { threadId: 1 });
      assert.equal((await nextStop(c, seen))?.body.reason, 'pause', technique);
      assert.notEqual(await value(c, 'eax'), '0x0');
      const restarted = await c.request('restart', {});
      assert.equal(restarted.success, true, restarted.message);
      assert.equal((await nextStop(c, seen + 1))?.body.reason, 'entry');
      assert.equal(await value(c, 'eax'), '0x0');
      await c.request('terminate');
    }
  });
});

describe('memory, disassembly and data breakpoints under a software technique', () => {
  test('guest-virtual through the guest\'s tables, guest-physical and host-physical; a write; disassembly at EIP', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { ...KERNEL, technique: 'trap-and-emulate' }, { exceptionFilters: [HOLE] });
    await nextStop(c, 0);
    const f = await frames(c);
    const eip = Number(f[1].instructionPointerReference);
    const read = async (ref: string): Promise<string | undefined> => ((await c.request('readMemory', { memoryReference: ref, count: 4 })).body as DebugProtocol.ReadMemoryResponse['body'])?.data;
    const bytes = await read(`gva:0x${eip.toString(16)}`);
    assert.ok(bytes !== undefined);
    // The kernel maps its first 4 MiB onto themselves: the same bytes at GPA = HPA.
    assert.equal(await read(`gpa:0x${eip.toString(16)}`), bytes);
    assert.equal(await read(`hpa:0x${eip.toString(16)}`), bytes);
    // Page 0 is left out of the kernel's map: not readable guest-virtually, but guest-physically.
    const unmapped = (await c.request('readMemory', { memoryReference: 'gva:0x0', count: 4 })).body as NonNullable<DebugProtocol.ReadMemoryResponse['body']>;
    assert.deepEqual([unmapped.data, unmapped.unreadableBytes], [undefined, 4]);
    assert.ok((await read('gpa:0x0')) !== undefined);
    const w = await c.request('writeMemory', { memoryReference: 'gva:0x3ff000', data: Buffer.from([1, 2, 3, 4]).toString('base64') });
    assert.equal(w.success, true, w.message);
    assert.equal(await read('gpa:0x3ff000'), Buffer.from([1, 2, 3, 4]).toString('base64'));
    const d = (await c.request('disassemble', { memoryReference: `0x${eip.toString(16)}`, instructionCount: 2, instructionOffset: -1 })).body as NonNullable<DebugProtocol.DisassembleResponse['body']>;
    assert.equal(d.instructions[0].instruction, 'popf');
    assert.equal(d.instructions[0].line, POPF_LINE);
    assert.equal(Number(d.instructions[1].address), eip);
    await c.request('terminate');
  });

  test('a memory data breakpoint stops after the write; a VMCS field cannot be watched', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { program: '/s/soft.asm', technique: 'trap-and-emulate', stopOnEntry: true });
    await nextStop(c, 0);
    const info = (await c.request('dataBreakpointInfo', { name: 'gva:0x7fffc' })).body as DebugProtocol.DataBreakpointInfoResponse['body'];
    const vmcs = (await c.request('dataBreakpointInfo', { name: 'vmcs GUEST_CR0' })).body as DebugProtocol.DataBreakpointInfoResponse['body'];
    const set = (await c.request('setDataBreakpoints', { breakpoints: [{ dataId: info.dataId }, { dataId: vmcs.dataId }] })).body as DebugProtocol.SetDataBreakpointsResponse['body'];
    assert.equal(set.breakpoints[0].verified, true);
    assert.equal(set.breakpoints[1].verified, false);
    assert.match(set.breakpoints[1].message ?? '', /there is no VMCS, the guest runs under trap-and-emulate/);
    const s = await runAndStop(c, 'continue');
    assert.equal(s?.body.reason, 'data breakpoint');
    assert.match(s?.body.description ?? '', /^Data breakpoint: write to gva 0x7FFFC by 'call 0x/);
    assert.equal(await topLine(c), 14);
    await c.request('terminate');
  });
});

describe('the technique in the VM configuration, and VT-x', () => {
  test('a VM configuration\'s technique runs the guest on the software VMM; a note for what does not apply', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { program: '/s/soft.asm', vm: { technique: 'binary-translation', paging: 'shadow' }, stopOnEntry: true });
    await nextStop(c, 0);
    const threads = (await c.request('threads')).body as DebugProtocol.ThreadsResponse['body'];
    assert.equal(threads.threads[0].name, 'vCPU 0 · binary-translation · guest ring 0 (runs in ring 1)');
    assert.match(c.outputText('console'), /^VM configuration: paging: "binary-translation" always keeps shadow page tables/m);
    await c.request('terminate');
  });

  test('under VT-x the hole filter never fires and the software commands say why', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { program: '/s/soft.asm', mode: 'flat32', stopOnEntry: true }, { exceptionFilters: [HOLE, { filterId: 'vmm-trap' }] });
    await nextStop(c, 0);
    const holes = await result(c, 'holes');
    assert.equal(holes.success, false);
    assert.match(holes.message ?? '', /^'holes' is about the software techniques .*under VT-x, where every sensitive instruction exits/);
    assert.equal(await runAndStop(c, 'continue'), undefined);
    assert.equal(c.events('stopped').length, 1);
  });
});

describe('the Hyperstep view under a software technique', () => {
  const trapBatches = (c: DapClient): TrapBatchEventBody[] => c.events(TRAP_EVENT).map((e) => e.body as TrapBatchEventBody);
  const softStats = (c: DapClient): SoftStatsEventBody[] => c.events(SOFT_STATS_EVENT).map((e) => e.body as SoftStatsEventBody);

  test('trap-and-emulate: each stop sends the traps since the previous one with their source lines, then the statistics and the state', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { program: '/s/soft.asm', technique: 'trap-and-emulate', stopOnEntry: true }, { breakpoints: { '/s/soft.asm': [{ line: 7 }] } });
    assert.equal((await nextStop(c, 0))?.body.reason, 'entry');
    // At entry nothing has trapped yet: statistics, but no batch.
    assert.equal(trapBatches(c).length, 0);
    assert.equal(softStats(c).length, 1);
    assert.equal(softStats(c)[0]?.technique, 'trap-and-emulate');
    assert.equal(softStats(c)[0]?.traps, 0);
    assert.equal(c.events(EXIT_EVENT).length + c.events(STATS_EVENT).length, 0, 'no VM exits, no exit statistics');

    assert.equal((await runAndStop(c, 'continue'))?.body.reason, 'breakpoint');
    const [first] = trapBatches(c);
    assert.ok(first, 'a trap batch at the breakpoint');
    assert.equal(first.technique, 'trap-and-emulate');
    const cli = first.traps.filter((t) => t.key === '#GP: cli');
    assert.equal(cli.length, 1);
    assert.deepEqual({ ...cli[0], cycles: undefined }, { vcpu: 0, seq: cli[0]?.seq, key: '#GP: cli', rip: 0x100b, cycles: undefined, source: { path: '/s/soft.asm', line: 6, column: 9 } });
    assert.ok((cli[0]?.cycles ?? 0) > 0, 'modelled cycles');
    assert.deepEqual(first.holes, []);
    const stats = softStats(c)[1];
    assert.ok(stats, 'the VMM statistics at the breakpoint');
    assert.equal(stats.byKind.find((k) => k.key === '#GP: cli')?.count, 1);
    assert.equal(stats.traps, first.traps.length);
    assert.equal(stats.trapCycles, first.traps.reduce((s, t) => s + t.cycles, 0));
    // The order at a stop: the batch, the statistics, the state, then `stopped`.
    const names = c.received.map((m) => (m as { event?: string }).event).filter((e) => e !== undefined && e !== 'output');
    const last = names.lastIndexOf('stopped');
    assert.deepEqual(names.slice(last - 3, last + 1), [TRAP_EVENT, SOFT_STATS_EVENT, STATE_EVENT, 'stopped']);
    const state = c.events(STATE_EVENT).at(-1)?.body as StateEventBody;
    assert.equal(state.traps, stats.traps);

    // The next stop sends only what trapped since: the second CLI.
    await runAndStop(c, 'continue');
    const second = trapBatches(c)[1];
    assert.ok(second, 'a trap batch at the second stop');
    assert.deepEqual(second.traps.map((t) => [t.key, t.source?.line]), [['#GP: cli', 6]]);
    assert.ok((second.traps[0]?.seq ?? 0) > (cli[0]?.seq ?? 0), 'newer traps');
    assert.equal(softStats(c)[2]?.byKind.find((k) => k.key === '#GP: cli')?.count, 2);
    await c.request('terminate');
  });

  test('the example kernel: the holes and shadow fills with their kernel lines, one batch per stop, each trap once', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { ...KERNEL, technique: 'trap-and-emulate' }, { exceptionFilters: [HOLE] });
    await nextStop(c, 0);
    const [batch] = trapBatches(c);
    assert.ok(batch, 'a batch at the hole');
    assert.equal(batch.holes.length, 1);
    assert.deepEqual([batch.holes[0]?.sequence, batch.holes[0]?.instruction, batch.holes[0]?.source?.path, batch.holes[0]?.source?.line], [1, 'popf', '/t/kernel.asm', POPF_LINE]);
    assert.match(batch.holes[0]?.saw ?? '', /^virtual IF=0/);
    const fills = batch.traps.filter((t) => t.key === '#PF: shadow fill');
    assert.ok(fills.length > 0, 'shadow fills before the hole');
    // The kernel and its includes: every fill's instruction has a line.
    assert.ok(fills.every((t) => /^\/t\/.*\.(asm|inc)$/.test(t.source?.path ?? '') && (t.source?.line ?? 0) > 0), 'each shadow fill has its kernel line');
    assert.ok(fills.some((t) => t.source?.path === '/t/kernel.asm'), 'fills in kernel.asm');
    assert.equal(softStats(c)[0]?.holes, 1);
    // Run to the end: each stop and the end send one batch of at most 200 traps, the newest.
    let stops = 1;
    while ((await runAndStop(c, 'continue')) !== undefined) stops++;
    const batches = trapBatches(c);
    assert.ok(batches.length <= stops + 1, `${batches.length} batches for ${stops} stops and the end`);
    assert.ok(batches.every((b) => b.traps.length <= 200 && b.holes.length <= 200), 'at most 200 of each');
    const final = softStats(c).at(-1);
    assert.ok(final, 'the statistics at the end');
    // Fewer than 200 between two holes: every trap reaches the view once, in order.
    const seqs = batches.flatMap((b) => b.traps.map((t) => t.seq));
    assert.deepEqual(seqs, Array.from({ length: final.traps }, (_, i) => i + 1));
    assert.equal(final.holes, batches.reduce((s, b) => s + b.holes.length, 0));
  });

  test('binary translation and paravirt: translation, callouts and hypercalls in the statistics', async () => {
    const bt = startSession(SOFT_FILES);
    await launch(bt, { program: '/s/soft.asm', technique: 'binary-translation' }, { breakpoints: { '/s/soft.asm': [{ line: 9 }] } });
    await nextStop(bt, 0);
    const s = softStats(bt)[0];
    assert.equal(s?.technique, 'binary-translation');
    assert.ok((s?.translation.blocks ?? 0) > 0, 'translated blocks');
    assert.equal(s?.byKind.find((k) => k.key === 'callout: cli')?.count, 3);
    assert.ok(trapBatches(bt).every((b) => b.traps.every((t) => !t.key.startsWith('callout'))), 'a callout is no trap');
    await bt.request('terminate');

    const pv = startSession(SOFT_FILES);
    await launch(pv, { program: '/t/kernel-pv.asm', technique: 'paravirt' }, { functionBreakpoints: ['print_summary'] });
    await nextStop(pv, 0);
    const p = softStats(pv)[0];
    assert.equal(p?.hypercalls.find((h) => h.key === 'IRQ_DISABLE')?.count, 101);
    const batch = trapBatches(pv)[0];
    assert.ok(batch && batch.traps.length === 200, 'capped at 200');
    assert.equal(batch.traps.at(-1)?.seq, p?.traps, 'the newest 200');
    assert.ok(batch.traps.some((t) => t.key === 'hypercall: IRQ_DISABLE' && t.source?.path === '/t/kernel-pv.asm'), 'IRQ_DISABLE hypercalls with their lines');
    await pv.request('terminate');
  });

  test('under VT-x no trap or VMM statistics events', async () => {
    const c = startSession(SOFT_FILES);
    await launch(c, { program: '/s/soft.asm', mode: 'flat32', stopOnEntry: true });
    await nextStop(c, 0);
    await runAndStop(c, 'continue');
    assert.equal(c.events(TRAP_EVENT).length + c.events(SOFT_STATS_EVENT).length, 0);
    assert.ok(c.events(STATS_EVENT).length > 0, 'exit statistics under VT-x');
  });
});
