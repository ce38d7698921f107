// Stops the VM pauses for (exit filters; vm.requestPause) and stepping one
// vCPU of several (vm.runVcpu): a breakpoint where an exit stop lands keeps
// its hit count and logpoint output as in a run without the filter; an exit
// whose entry injects an event stops at the event's handler; an instruction
// or line step of vCPU 1 moves vCPU 1 alone.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { GUESTS, startSession, launch, nextStop, runAndStop, frames, value } from './transcripts/harness';
import type { DapClient } from './dapClient';

const files: Record<string, string | Uint8Array> = {
  ...GUESTS,
  // Five port writes; the instruction after each is where the I/O exit resumes.
  '/s/loop.asm': [
    '        bits 32', //  1
    '        org 0x1000', //  2
    'start:  mov ecx, 0', //  3
    'again:  out 0xe9, al', //  4
    '        inc ecx', //  5  the resume address of every exit at line 4
    '        cmp ecx, 5', //  6
    '        jb again', //  7
    '        hlt', //  8
  ].join('\n'),
  // UD2 exits (#UD is in the default exception bitmap) and the handler reflects it: the entry injects #UD.
  '/s/ud.asm': [
    '        bits 32', //  1
    '        org 0x1000', //  2
    'start:  mov eax, ud_handler', //  3
    '        mov [0x3000 + 6*8], ax', //  4
    '        mov word [0x3000 + 6*8 + 2], 0x08', //  5
    '        mov word [0x3000 + 6*8 + 4], 0x8E00', //  6
    '        shr eax, 16', //  7
    '        mov [0x3000 + 6*8 + 6], ax', //  8
    '        lidt [idtr]', //  9
    '        mov esp, 0x80000', // 10
    '        ud2', // 11
    'back:   mov esi, 1', // 12
    '        hlt', // 13
    'ud_handler:', // 14
    '        add dword [esp], 2', // 15
    '        iret', // 16
    'idtr:   dw 6*8+7', // 17
    '        dd 0x3000', // 18
  ].join('\n'),
  // vCPU 0 starts vCPU 1 at `ap`; each then counts in its own loop.
  '/s/two.asm': [
    '        bits 32', //  1
    '        org 0x1000', //  2
    'start:  mov eax, 4', //  3
    '        mov ebx, 1', //  4
    '        mov ecx, ap', //  5
    '        mov edx, 0x70000', //  6
    '        vmcall', //  7
    'bsp:    inc dword [0x5000]', //  8
    '        jmp bsp', //  9
    'ap:     inc dword [0x5004]', // 10
    '        jmp ap', // 11
  ].join('\n'),
};

const threads = async (c: DapClient): Promise<DebugProtocol.Thread[]> => ((await c.request('threads')).body as DebugProtocol.ThreadsResponse['body']).threads;
const ip = async (c: DapClient, threadId: number): Promise<number> => Number((await frames(c, threadId)).find((f) => f.source !== undefined)?.instructionPointerReference);

describe('stops at VM exits need no breakpoint at the resume address', () => {
  test('a hit count at the resume address stops on the same arrival as without the exit filter, with the exit stop', async () => {
    const bp = { line: 5, hitCondition: '== 3' };
    // Without the filter: the third arrival at line 5 (ECX = 2).
    const plain = startSession(files);
    await launch(plain, { program: '/s/loop.asm', mode: 'flat32' }, { breakpoints: { '/s/loop.asm': [bp] } });
    const hit = await nextStop(plain, 0);
    assert.equal(hit?.body.reason, 'breakpoint');
    assert.equal(await value(plain, 'ecx'), '0x2');
    const id = hit?.body.hitBreakpointIds?.[0];
    assert.equal(typeof id, 'number');
    // With the filter every exit stops at line 5; the third stop is that same arrival and names the breakpoint.
    const c = startSession(files);
    await launch(c, { program: '/s/loop.asm', mode: 'flat32' }, { breakpoints: { '/s/loop.asm': [bp] }, exceptionFilters: [{ filterId: 'exit-30' }] });
    const stops: (DebugProtocol.StoppedEvent | undefined)[] = [await nextStop(c, 0)];
    for (let i = 0; i < 4; i++) stops.push(await runAndStop(c, 'continue'));
    assert.deepEqual(stops.map((s) => s?.body.reason), ['exception', 'exception', 'exception', 'exception', 'exception']);
    assert.deepEqual(stops.map((s) => s?.body.hitBreakpointIds ?? []), [[], [], [id], [], []]);
    assert.equal(await runAndStop(c, 'continue'), undefined, 'no breakpoint stop of its own: continuing from an exit stop does not count the arrival again');
  });

  test('a logpoint at the resume address prints once per arrival while an exit filter stops there every time', async () => {
    const c = startSession(files);
    await launch(c, { program: '/s/loop.asm', mode: 'flat32' }, { breakpoints: { '/s/loop.asm': [{ line: 5, logMessage: 'ecx={ecx}' }] }, exceptionFilters: [{ filterId: 'exit-30' }] });
    assert.equal((await nextStop(c, 0))?.body.reason, 'exception');
    for (let i = 0; i < 4; i++) assert.equal((await runAndStop(c, 'continue'))?.body.reason, 'exception');
    assert.equal(await runAndStop(c, 'continue'), undefined);
    const logs = c.outputs('console').map((e) => e.body.output).filter((t) => t.startsWith('ecx='));
    assert.deepEqual(logs, ['ecx=0x0\n', 'ecx=0x1\n', 'ecx=0x2\n', 'ecx=0x3\n', 'ecx=0x4\n']);
  });

  test('an exit whose handler injects an exception stops at the first instruction of the guest\'s handler, its frame pushed', async () => {
    const c = startSession(files);
    await launch(c, { program: '/s/ud.asm', mode: 'flat32' }, { exceptionFilters: [{ filterId: 'exit-0' }] });
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'exception');
    assert.equal(stop?.body.description, 'VM exit 0 EXCEPTION_NMI');
    const f = await frames(c);
    assert.match(f[0].name, /^VM exit 0 EXCEPTION_NMI/);
    assert.equal(f[1].line, 15);
    assert.equal(await value(c, 'esp'), '0x7FFF4');
    assert.equal(await value(c, 'esi'), '0x0');
    assert.equal(await runAndStop(c, 'continue'), undefined);
    assert.match(c.outputText('console'), /Guest stopped \(hlt\)/);
  });
});

describe('stepping one vCPU of two', () => {
  /** Stopped at vCPU 0's 100th pass of line 8, vCPU 1 not yet scheduled (its slot comes after vCPU 0's). */
  async function stoppedInBsp(): Promise<DapClient> {
    const c = startSession(files);
    const r = await launch(c, { program: '/s/two.asm', mode: 'flat32', vcpus: 2 }, { breakpoints: { '/s/two.asm': [{ line: 8, hitCondition: '100' }] } });
    assert.equal(r.success, true, r.message);
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'breakpoint');
    assert.equal(stop?.body.threadId, 1);
    return c;
  }

  test('an instruction step of vCPU 1 moves vCPU 1 by one instruction; vCPU 0 does not run', async () => {
    const c = await stoppedInBsp();
    const bsp = await ip(c, 1);
    const counter0 = await value(c, 'dword [0x5000]');
    assert.equal(await value(c, 'dword [0x5004]'), '0x0');
    const stop = await runAndStop(c, 'next', { threadId: 2, granularity: 'instruction' });
    assert.equal(stop?.body.reason, 'step');
    assert.equal(stop?.body.threadId, 2);
    assert.equal((await frames(c, 2))[0].line, 11);
    assert.equal(await value(c, 'dword [0x5004]'), '0x1');
    assert.equal(await ip(c, 1), bsp);
    assert.equal(await value(c, 'dword [0x5000]'), counter0);
    // A line step of vCPU 1: to the next line, vCPU 0 still where it was.
    await runAndStop(c, 'next', { threadId: 2 });
    assert.equal((await frames(c, 2))[0].line, 10);
    assert.equal(await ip(c, 1), bsp);
    assert.equal(await value(c, 'dword [0x5000]'), counter0);
    // Without the breakpoint, continuing runs both again.
    assert.equal((await threads(c)).length, 2);
    await c.request('setBreakpoints', { source: { path: '/s/two.asm' }, breakpoints: [] });
    const seen = c.events('stopped').length;
    await c.request('continue', { threadId: 1 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    await c.request('pause', { threadId: 1 });
    assert.equal((await nextStop(c, seen))?.body.reason, 'pause');
    assert.ok(Number(await value(c, 'dword [0x5000]')) > Number(counter0));
    assert.ok(Number(await value(c, 'dword [0x5004]')) > 1);
    await c.request('terminate');
  });
});
