// The debug session over the VMM, in process: launch and stop on entry,
// threads, stack, scopes and variables, breakpoints of every kind, stepping,
// VM-exit filters, pause, memory and disassembly, restart and terminate.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { startSession, launch, nextStop, runAndStop, frames, topLine, evaluate, value } from './transcripts/harness';

const CALLS = { program: '/g/calls.asm', mode: 'flat32' };

describe('launch, threads, stack, scopes, variables', () => {
  test('stopOnEntry stops at the first instruction with one thread per vCPU and the source frame', async () => {
    const c = startSession();
    const r = await launch(c, { ...CALLS, stopOnEntry: true });
    assert.equal(r.success, true, r.message);
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'entry');
    assert.equal(stop?.body.threadId, 1);
    const threads = (await c.request('threads')).body as DebugProtocol.ThreadsResponse['body'];
    assert.deepEqual(threads.threads, [{ id: 1, name: 'vCPU 0 · non-root · ring 0' }]);
    const f = await frames(c);
    assert.equal(f.length, 1);
    assert.equal(f[0].source?.path, '/g/calls.asm');
    assert.equal(f[0].line, 3);
    assert.equal(f[0].instructionPointerReference, '0x1000');
    assert.match(f[0].name, /^start/);
  });

  test('scopes of the guest frame and register variables, hex by default and decimal on request', async () => {
    const c = startSession();
    await launch(c, { ...CALLS }, { breakpoints: { '/g/calls.asm': [{ line: 7 }] } });
    assert.equal((await nextStop(c, 0))?.body.reason, 'breakpoint');
    const f = await frames(c);
    const scopes = ((await c.request('scopes', { frameId: f[0].id })).body as DebugProtocol.ScopesResponse['body']).scopes;
    assert.deepEqual(
      scopes.map((s) => s.name),
      ['Registers', 'VMCS', 'Page tables', 'Interrupts', 'Devices', 'Exit statistics'],
    );
    const regs = scopes[0].variablesReference;
    const hexVars = ((await c.request('variables', { variablesReference: regs })).body as DebugProtocol.VariablesResponse['body']).variables;
    const ecx = hexVars.find((v) => v.name.toLowerCase() === 'ecx');
    assert.equal(ecx?.value, '0x00000005');
    const decVars = ((await c.request('variables', { variablesReference: regs, format: { hex: false } })).body as DebugProtocol.VariablesResponse['body']).variables;
    assert.equal(decVars.find((v) => v.name.toLowerCase() === 'ecx')?.value, '5');
    // Paging of a container: start/count.
    const page = ((await c.request('variables', { variablesReference: regs, start: 1, count: 2 })).body as DebugProtocol.VariablesResponse['body']).variables;
    assert.equal(page.length, 2);
    assert.equal(page[0].name, hexVars[1].name);
    // setVariable through the node's setter, then the guest sees it.
    const set = await c.request('setVariable', { variablesReference: regs, name: ecx?.name, value: '0x10' });
    assert.equal(set.success, true, set.message);
    assert.equal(await value(c, 'ecx'), '0x10');
    const bad = await c.request('variables', { variablesReference: 999999 });
    assert.equal(bad.success, false);
  });

  test('several vCPUs: parked ones are named wait-for-SIPI; the VM configuration comes from a file', async () => {
    const c = startSession();
    const r = await launch(c, { program: '/g/smp.asm', mode: 'flat32', vm: 'vm.json', stopOnEntry: true });
    assert.equal(r.success, true, r.message);
    await nextStop(c, 0);
    const threads = ((await c.request('threads')).body as DebugProtocol.ThreadsResponse['body']).threads;
    assert.deepEqual(threads.map((t) => t.name), ['vCPU 0 · non-root · ring 0', 'vCPU 1 · wait-for-SIPI']);
  });

  test('a raw binary: a frame without source, with the instruction pointer for the Disassembly view', async () => {
    const c = startSession();
    await launch(c, { program: '/g/raw.bin', stopOnEntry: true });
    await nextStop(c, 0);
    const f = await frames(c);
    assert.equal(f[0].source, undefined);
    assert.equal(f[0].instructionPointerReference, '0x7C00');
    assert.equal(f[0].presentationHint, 'subtle');
    const stop = await runAndStop(c, 'next');
    assert.equal(stop?.body.reason, 'step');
    assert.equal((await frames(c))[0].instructionPointerReference, '0x7C02');
  });
});

describe('breakpoints', () => {
  test('a source breakpoint with a condition stops only when it holds', async () => {
    const c = startSession();
    const r = await launch(c, CALLS, { breakpoints: { '/g/calls.asm': [{ line: 5, condition: 'ecx == 3' }] } });
    assert.equal(r.success, true);
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'breakpoint');
    assert.equal(await topLine(c), 5);
    assert.equal(await value(c, 'ecx'), '0x3');
  });

  test('hit counts: stop on the 4th hit; "% 2" every second hit', async () => {
    const c = startSession();
    await launch(c, CALLS, { breakpoints: { '/g/calls.asm': [{ line: 5, hitCondition: '4' }] } });
    await nextStop(c, 0);
    assert.equal(await value(c, 'ecx'), '0x4');
    const c2 = startSession();
    await launch(c2, CALLS, { breakpoints: { '/g/calls.asm': [{ line: 5, hitCondition: '% 2' }] } });
    await nextStop(c2, 0);
    assert.equal(await value(c2, 'ecx'), '0x2');
    await runAndStop(c2, 'continue');
    assert.equal(await value(c2, 'ecx'), '0x4');
  });

  test('logpoints print with {expressions} and do not stop', async () => {
    const c = startSession();
    await launch(c, CALLS, { breakpoints: { '/g/calls.asm': [{ line: 5, logMessage: 'ecx={ecx} zf={zf}' }] } });
    assert.equal(await nextStop(c, 0), undefined);
    const logs = c.outputs('console').map((e) => e.body.output).filter((t) => t.startsWith('ecx='));
    assert.deepEqual(logs, ['ecx=0x1 zf=0x0\n', 'ecx=0x2 zf=0x0\n', 'ecx=0x3 zf=0x0\n', 'ecx=0x4 zf=0x0\n', 'ecx=0x5 zf=0x0\n']);
  });

  test('a line without code moves to the next line with code; a bad condition is unverified with its column', async () => {
    const c = startSession();
    await c.initialize();
    const launched = c.request('launch', { ...CALLS, stopOnEntry: true });
    await c.event('initialized');
    const r = await c.request('setBreakpoints', { source: { path: '/g/calls.asm' }, breakpoints: [{ line: 14 }, { line: 4, condition: 'ecx == ' }, { line: 200 }] });
    const bps = (r.body as DebugProtocol.SetBreakpointsResponse['body']).breakpoints;
    assert.equal(bps[0].verified, true);
    assert.equal(bps[0].line, 15);
    assert.match(bps[0].message ?? '', /moved to line 15/);
    assert.equal(bps[1].verified, false);
    assert.match(bps[1].message ?? '', /column \d+/);
    assert.equal(bps[2].verified, false);
    assert.equal((await launched).success, true);
  });

  test('a function breakpoint on a label, and an unknown label unverified', async () => {
    const c = startSession();
    await c.initialize();
    const launched = c.request('launch', CALLS);
    await c.event('initialized');
    const r = await c.request('setFunctionBreakpoints', { breakpoints: [{ name: 'inner' }, { name: 'nowhere' }] });
    const bps = (r.body as DebugProtocol.SetFunctionBreakpointsResponse['body']).breakpoints;
    assert.equal(bps[0].verified, true);
    assert.equal(bps[1].verified, false);
    await c.request('configurationDone');
    await launched;
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'function breakpoint');
    assert.equal(await topLine(c), 18);
    // Callers found on the stack: the CALL lines of double and of the main code.
    const f = await frames(c);
    assert.deepEqual(f.map((x) => [x.name, x.line]), [['inner (0x1024)', 18], ['double (return to 0x1023)', 16], ['loop (return to 0x1010)', 7]]);
    const callerScopes = await c.request('scopes', { frameId: f[1].id });
    assert.equal(callerScopes.success, true);
    assert.deepEqual(stop?.body.hitBreakpointIds, [bps[0].id]);
  });

  test('an instruction breakpoint by address', async () => {
    const c = startSession();
    await c.initialize();
    const launched = c.request('launch', CALLS);
    await c.event('initialized');
    // `call double` is at 0x1000 + 5 (mov ecx) + 1 (inc) + 3 (cmp) + 2 (jb).
    const r = await c.request('setInstructionBreakpoints', { breakpoints: [{ instructionReference: '0x100B' }] });
    assert.equal((r.body as DebugProtocol.SetInstructionBreakpointsResponse['body']).breakpoints[0].verified, true);
    await c.request('configurationDone');
    await launched;
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'instruction breakpoint');
    assert.equal(await topLine(c), 7);
  });
});

describe('stepping', () => {
  test('instruction granularity advances one instruction', async () => {
    const c = startSession();
    await launch(c, { ...CALLS, stopOnEntry: true });
    await nextStop(c, 0);
    await runAndStop(c, 'next', { threadId: 1, granularity: 'instruction' });
    assert.equal((await frames(c))[0].instructionPointerReference, '0x1005');
    await runAndStop(c, 'stepIn', { threadId: 1, granularity: 'instruction' });
    assert.equal((await frames(c))[0].instructionPointerReference, '0x1006');
  });

  test('next steps over a call, stepIn enters it, stepOut returns to the caller', async () => {
    const c = startSession();
    await launch(c, CALLS, { breakpoints: { '/g/calls.asm': [{ line: 7 }] } });
    await nextStop(c, 0);
    assert.equal(await topLine(c), 7);
    // next over `call double` (which calls inner): ecx = 5*2+1.
    const s = await runAndStop(c, 'next');
    assert.equal(s?.body.reason, 'step');
    assert.equal(await topLine(c), 8);
    assert.equal(await value(c, 'ecx'), '0xB');

    const c2 = startSession();
    await launch(c2, CALLS, { breakpoints: { '/g/calls.asm': [{ line: 7 }] } });
    await nextStop(c2, 0);
    await runAndStop(c2, 'stepIn');
    assert.equal(await topLine(c2), 15);
    await runAndStop(c2, 'next');
    assert.equal(await topLine(c2), 16);
    await runAndStop(c2, 'stepIn');
    assert.equal(await topLine(c2), 18);
    await runAndStop(c2, 'stepOut');
    assert.equal(await topLine(c2), 17);
    await runAndStop(c2, 'stepOut');
    assert.equal(await topLine(c2), 8);
    assert.equal(await value(c2, 'ecx'), '0xB');
  });

  test('a line loop stays on its lines; next from the jb goes back to the loop head', async () => {
    const c = startSession();
    await launch(c, CALLS, { breakpoints: { '/g/calls.asm': [{ line: 6 }] } });
    await nextStop(c, 0);
    await runAndStop(c, 'next');
    assert.equal(await topLine(c), 4);
  });
});

describe('VM-exit filters', () => {
  test('an I/O exit filtered by port: exception stop, exit frame, exceptionInfo, the VMCS exit reason', async () => {
    const c = startSession();
    await launch(c, CALLS, { exceptionFilters: [{ filterId: 'exit-30', condition: 'port == 0x3f8' }] });
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'exception');
    assert.equal(stop?.body.description, 'VM exit 30 IO_INSTRUCTION');
    const f = await frames(c);
    assert.equal(f.length, 2);
    assert.equal(f[0].name, 'VM exit 30 IO_INSTRUCTION · OUT DX, AL → port 0x3F8, 1 byte');
    assert.equal(f[1].line, 11);
    const info = await c.request('exceptionInfo', { threadId: 1 });
    assert.equal(info.success, true, info.message);
    const body = info.body as DebugProtocol.ExceptionInfoResponse['body'];
    assert.equal(body.exceptionId, '30 IO_INSTRUCTION');
    assert.match(body.details?.message ?? '', /Exit qualification: 0x3F80000/);
    assert.match(body.description ?? '', /I\/O bitmap A bit 0x3F8 set/);
    const vmcs = await evaluate(c, 'vmcs VM_EXIT_REASON', 'repl', f[0].id);
    assert.equal(vmcs.success, true, vmcs.message);
    assert.match((vmcs.body as DebugProtocol.EvaluateResponse['body']).result, /0x0*1E\b/);
    assert.equal(await value(c, 'port == 0x3f8 && write && vmcs.VM_EXIT_REASON == 30'), '0x1');
    // The exit frame has a "VM exit" scope with the fields.
    const scopes = ((await c.request('scopes', { frameId: f[0].id })).body as DebugProtocol.ScopesResponse['body']).scopes;
    assert.equal(scopes[0].name, 'VM exit');
    const fields = ((await c.request('variables', { variablesReference: scopes[0].variablesReference })).body as DebugProtocol.VariablesResponse['body']).variables;
    assert.equal(fields.find((v) => v.name === 'port')?.value, '0x3F8');
    // The Hyperstep view's events came with the stop: the exits so far (the last one this I/O exit, with its source line), statistics, state.
    const batch = c.events('hyperstep/exit').at(-1)?.body as { exits: { reason: number; source?: { line: number } }[] } | undefined;
    assert.equal(batch?.exits.at(-1)?.reason, 30);
    assert.equal(batch?.exits.at(-1)?.source?.line, 10); // the OUT itself; the guest frame is already past it
    const stats = c.events('hyperstep/stats').at(-1)?.body as { total: number } | undefined;
    assert.equal(stats?.total, batch?.exits.length);
    const state = c.events('hyperstep/state').at(-1)?.body as { vcpu: number; mode: string; cpl: number; nonRoot: boolean } | undefined;
    assert.deepEqual({ vcpu: state?.vcpu, mode: state?.mode, cpl: state?.cpl, nonRoot: state?.nonRoot }, { vcpu: 0, mode: 'protected', cpl: 0, nonRoot: true });
    // The exit on port 0xE9 does not match: the guest runs to its end.
    assert.equal(await runAndStop(c, 'continue'), undefined);
    assert.equal(c.outputText('stdout'), 'Hi');
  });

  test('breakOnExits in the launch configuration, by name: CPUID exits with their leaf', async () => {
    const c = startSession();
    await launch(c, { program: '/g/cpuid.asm', mode: 'flat32', breakOnExits: ['CPUID'] });
    const s1 = await nextStop(c, 0);
    assert.equal(s1?.body.description, 'VM exit 10 CPUID');
    assert.equal(await value(c, 'leaf'), '0x0');
    await runAndStop(c, 'continue');
    assert.equal(await value(c, 'leaf'), '0x40000000');
    // A fresh condition error is reported, not a crash.
    const bad = await c.request('setExceptionBreakpoints', { filters: [], filterOptions: [{ filterId: 'exit-10', condition: 'leaf ==' }] });
    assert.equal((bad.body as DebugProtocol.SetExceptionBreakpointsResponse['body'] | undefined)?.breakpoints?.[0]?.verified, false);
  });

  test('the "any" filter with a condition over exit fields', async () => {
    const c = startSession();
    await launch(c, CALLS, { exceptionFilters: [{ filterId: 'any', condition: 'reason == 12' }] });
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.description, 'VM exit 12 HLT');
  });
});

describe('pause, memory, restart, terminate', () => {
  test('pause stops an endless loop with a stopped event', async () => {
    const c = startSession();
    await launch(c, { program: '/g/spin.asm', mode: 'flat32' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const seen = c.events('stopped').length;
    assert.equal((await c.request('pause', { threadId: 1 })).success, true);
    const stop = await nextStop(c, seen);
    assert.equal(stop?.body.reason, 'pause');
    assert.ok([3, 4].includes(await topLine(c)));
    assert.equal((await c.request('terminate')).success, true);
  });

  test('readMemory in the three address spaces, unreadable bytes counted; writeMemory; disassemble with labels and lines', async () => {
    const c = startSession();
    await launch(c, { ...CALLS, stopOnEntry: true });
    await nextStop(c, 0);
    for (const ref of ['gva:0x1000', 'gpa:0x1000', '0x1000']) {
      const r = await c.request('readMemory', { memoryReference: ref, count: 5 });
      assert.equal(r.success, true, r.message);
      assert.equal(Buffer.from((r.body as DebugProtocol.ReadMemoryResponse['body'])?.data ?? '', 'base64').toString('hex'), 'b900000000', ref);
    }
    const hpa = await c.request('readMemory', { memoryReference: 'hpa:0x1000', count: 1 });
    assert.equal(hpa.success, true);
    const far = await c.request('readMemory', { memoryReference: 'gpa:0xFFFFFFF0', count: 4 });
    assert.equal(far.success, true);
    assert.equal((far.body as DebugProtocol.ReadMemoryResponse['body'])?.unreadableBytes, 4);
    const w = await c.request('writeMemory', { memoryReference: 'gva:0x2000', data: Buffer.from([1, 2, 3, 4]).toString('base64') });
    assert.equal(w.success, true, w.message);
    assert.equal(await value(c, 'dword [0x2000]'), '0x4030201');
    const d = await c.request('disassemble', { memoryReference: '0x1000', instructionOffset: 0, instructionCount: 3, resolveSymbols: true });
    const ins = (d.body as DebugProtocol.DisassembleResponse['body'])?.instructions ?? [];
    assert.equal(ins.length, 3);
    assert.equal(ins[0].symbol, 'start');
    assert.equal(ins[0].instruction, 'mov ecx,0x0');
    assert.equal(ins[1].line, 4);
    const back = await c.request('disassemble', { memoryReference: '0x1006', instructionOffset: -1, instructionCount: 2 });
    assert.deepEqual(((back.body as DebugProtocol.DisassembleResponse['body'])?.instructions ?? []).map((i) => i.address), ['0x1005', '0x1006']);
    const bad = await c.request('readMemory', { memoryReference: 'xyz:12', count: 4 });
    assert.equal(bad.success, false);
  });

  test('evaluate: labels in expressions, console commands routed to the inspection commands, completions', async () => {
    const c = startSession();
    await launch(c, { ...CALLS, stopOnEntry: true });
    await nextStop(c, 0);
    assert.equal(await value(c, 'inner - start'), '0x24');
    assert.equal(await value(c, 'eip == start'), '0x1');
    const help = await evaluate(c, 'help');
    assert.equal(help.success, true, help.message);
    assert.match((help.body as DebugProtocol.EvaluateResponse['body']).result, /vmcs/);
    const bad = await evaluate(c, 'eax +');
    assert.equal(bad.success, false);
    assert.match(bad.message ?? '', /column 6/);
    const decimal = await c.request('evaluate', { expression: '0x10', context: 'watch', format: { hex: false } });
    assert.equal((decimal.body as DebugProtocol.EvaluateResponse['body']).result, '16');
    const comp = await c.request('completions', { text: 'vmcs VM_EXIT_RE', column: 16 });
    const labels = ((comp.body as DebugProtocol.CompletionsResponse['body']).targets ?? []).map((t) => t.label);
    assert.ok(labels.includes('vmcs VM_EXIT_REASON'), JSON.stringify(labels));
    const regs = await c.request('completions', { text: 'ec', column: 3 });
    assert.ok(((regs.body as DebugProtocol.CompletionsResponse['body']).targets ?? []).some((t) => t.label === 'ecx'));
  });

  test('restart runs the guest again from the start', async () => {
    const c = startSession();
    await launch(c, CALLS, { breakpoints: { '/g/calls.asm': [{ line: 12 }] } });
    await nextStop(c, 0);
    assert.equal(c.outputText('stdout'), 'H');
    const seen = c.events('stopped').length;
    assert.equal((await c.request('restart', {})).success, true);
    await nextStop(c, seen);
    assert.equal(await topLine(c), 12);
    assert.equal(c.outputText('stdout'), 'HH');
    assert.equal(await value(c, 'ecx'), '0xB');
    // A restart that brings an edited configuration uses it.
    const seen2 = c.events('stopped').length;
    assert.equal((await c.request('restart', { arguments: { ...CALLS, stopOnEntry: true } })).success, true);
    assert.equal((await nextStop(c, seen2))?.body.reason, 'entry');
    assert.equal(await topLine(c), 3);
  });

  test('terminate while stopped ends the session with one terminated event', async () => {
    const c = startSession();
    await launch(c, { ...CALLS, stopOnEntry: true });
    await nextStop(c, 0);
    assert.equal((await c.request('terminate')).success, true);
    await c.event('terminated');
    assert.equal(c.events('terminated').length, 1);
    assert.equal((await c.request('threads')).success, true);
  });
});

describe('invalid launch configurations', () => {
  test('each error names the attribute', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ program: '/g/calls.asm', mode: 'flat32', vcpus: 0 }, /^'vcpus' must be an integer from 1 to 8/],
      [{ program: '/g/calls.asm', mode: 'flat32', paging: 'nested' }, /^'paging' must be "ept" or "shadow"/],
      [{ program: '/g/calls.asm', mode: 'flat32', technique: 'magic' }, /^'technique' must be one of/],
      [{ program: '/g/calls.asm', mode: 'flat32', technique: 'paravirt', vcpus: 2 }, /^'vcpus': vcpus: the software techniques run one vCPU/],
      [{ program: '/g/calls.asm', mode: 'real', technique: 'trap-and-emulate' }, /^'mode': entry\.mode: "trap-and-emulate" runs a flat32 protected-mode guest kernel/],
      [{ program: '/g/calls.asm', mode: 'flat32', technique: 'binary-translation', paging: 'ept' }, /^'paging': "ept" cannot apply under binary-translation/],
      [{ program: '/g/calls.asm', mode: 'flat32', vm: { technique: 'paravirt', vcpus: 2 } }, /^'vm': vcpus: the software techniques run one vCPU/],
      [{ program: '/g/calls.asm', mode: 'flat32', breakOnExits: ['NOT_AN_EXIT'] }, /^'breakOnExits': "NOT_AN_EXIT"/],
      [{ program: '/g/calls.asm', mode: 'flat32', breakOnExits: 'CPUID' }, /^'breakOnExits' must be an array/],
      [{ program: '/g/calls.asm', mode: 'flat32', console: { output: 'yes' } }, /^'console\.output' must be true or false/],
      [{ program: '/g/calls.asm', mode: 'flat32', vm: 42 }, /^'vm' must be a VM configuration object or the path/],
      [{ program: '/g/calls.asm', mode: 'flat32', vm: { vcpus: 99 } }, /^'vm': vcpus: /],
      [{ program: '/g/calls.asm', mode: 'flat32', vm: 'badvm.json' }, /^'vm' \(\/g\/badvm\.json\): vcpus: /],
      [{ program: '/g/calls.asm', mode: 'flat32', vm: 'broken.json' }, /^'vm': \/g\/broken\.json is not valid JSON/],
      [{ program: '/g/calls.asm', mode: 'flat32', vm: 'none.json' }, /^'vm': cannot read the VM configuration '\/g\/none\.json'/],
      [{ program: '/g/calls.asm', mode: 'flat32', maxInstructions: -1 }, /^'maxInstructions' must be a positive integer/],
      [{ program: '/g/calls.asm', mode: 'flat32', stopOnEntry: 1 }, /^'stopOnEntry' must be true or false/],
    ];
    for (const [args, message] of cases) {
      const c = startSession();
      const r = await launch(c, args);
      assert.equal(r.success, false, JSON.stringify(args));
      assert.match(r.message ?? '', message, JSON.stringify(args));
    }
  });
});
