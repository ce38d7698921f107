// The session with other VM configurations: shadow paging, several vCPUs, a
// failed VM entry and a triple fault as exception stops, console options.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { GUESTS, startSession, launch, nextStop, runAndStop, frames, value } from './transcripts/harness';

const files: Record<string, string | Uint8Array> = {
  ...GUESTS,
  '/v/triple.asm': '        bits 16\n        org 0x7C00\n        lidt [empty]\n        int 3\nempty:  dw 0\n        dd 0\n',
  // Real mode: IVT entry 0x80 → handler, then `int 0x80`.
  '/v/int.asm': [
    '        bits 16', //  1
    '        org 0x7C00', //  2
    '        xor ax, ax', //  3
    '        mov ds, ax', //  4
    '        mov word [0x80*4], handler', //  5
    '        mov word [0x80*4+2], 0', //  6
    '        int 0x80', //  7
    '        inc bx', //  8
    '        hlt', //  9
    'handler: mov bx, 0x41', // 10
    '        iret', // 11
  ].join('\n'),
  '/v/real.asm': "        bits 16\n        org 0x7C00\n        mov al, 'r'\n        out 0xE9, al\n        hlt\n",
  // vCPU 0 starts vCPU 1 at `ap` (START_VCPU hypercall), which writes to port 0xE9.
  '/v/smp.asm': [
    '        bits 32',
    '        org 0x1000',
    '        mov eax, 4',
    '        mov ebx, 1',
    '        mov ecx, ap',
    '        mov edx, 0x8000',
    '        vmcall',
    'wait:   pause',
    '        jmp wait',
    "ap:     mov al, 'A'",
    '        out 0xE9, al',
    '        hlt',
  ].join('\n'),
};

describe('stepping over software interrupts; running without debugging', () => {
  test('next steps over INT n (to the instruction after it); stepIn enters the handler', async () => {
    const c = startSession(files);
    await launch(c, { program: '/v/int.asm' }, { breakpoints: { '/v/int.asm': [{ line: 7 }] } });
    assert.equal((await nextStop(c, 0))?.body.reason, 'breakpoint');
    await runAndStop(c, 'next');
    assert.equal((await frames(c))[0].line, 8);
    assert.equal(await value(c, 'bx'), '0x41');
    const c2 = startSession(files);
    await launch(c2, { program: '/v/int.asm' }, { breakpoints: { '/v/int.asm': [{ line: 7 }] } });
    await nextStop(c2, 0);
    await runAndStop(c2, 'stepIn');
    assert.equal((await frames(c2))[0].line, 10);
    const threads = ((await c2.request('threads')).body as DebugProtocol.ThreadsResponse['body']).threads;
    assert.equal(threads[0].name, 'vCPU 0 · non-root · real mode');
  });

  test('noDebug: breakpoints and exit filters are ignored, the guest runs to its end', async () => {
    const c = startSession(files);
    await launch(c, { program: '/v/int.asm', noDebug: true, breakOnExits: ['any'] }, { breakpoints: { '/v/int.asm': [{ line: 7 }] } });
    await c.event('terminated');
    assert.equal(c.events('stopped').length, 0);
  });
});

describe('VM configurations', () => {
  test('shadow paging from the launch attribute: the guest runs and its memory reads through gva and gpa', async () => {
    const c = startSession(files);
    const r = await launch(c, { program: '/g/calls.asm', mode: 'flat32', paging: 'shadow', stopOnEntry: true });
    assert.equal(r.success, true, r.message);
    await nextStop(c, 0);
    assert.equal(await value(c, 'byte [0x1000]'), '0xB9');
    assert.equal(await runAndStop(c, 'continue'), undefined);
    assert.equal(c.outputText('stdout'), 'Hi');
  });

  test('the VM configuration\'s entry mode applies when the launch has no mode; a launch mode overrides it', async () => {
    const c = startSession(files);
    const r = await launch(c, { program: '/g/calls.asm', vm: { entry: { mode: 'flat32' } }, stopOnEntry: true });
    assert.equal(r.success, true, r.message);
    await nextStop(c, 0);
    assert.equal((await frames(c))[0].line, 3);
    const c2 = startSession(files);
    const r2 = await launch(c2, { program: '/g/calls.asm', mode: 'real', vm: { entry: { mode: 'flat32' } } });
    assert.equal(r2.success, false);
    assert.match(r2.message ?? '', /boot sector is loaded at 0x7C00/);
  });

  test('an exit filter stops on the vCPU that exited; its thread is the one reported', async () => {
    const c = startSession(files);
    const r = await launch(c, { program: '/v/smp.asm', mode: 'flat32', vcpus: 2, maxInstructions: 2_000_000 }, { exceptionFilters: [{ filterId: 'exit-30' }] });
    assert.equal(r.success, true, r.message);
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'exception');
    assert.equal(stop?.body.threadId, 2);
    const threads = ((await c.request('threads')).body as DebugProtocol.ThreadsResponse['body']).threads;
    assert.equal(threads[1].name, 'vCPU 1 · non-root · ring 0');
    const f = await frames(c, 2);
    assert.match(f[0].name, /^VM exit 30 IO_INSTRUCTION · OUT 0xE9, AL/);
    assert.equal(f[1].line, 12);
    // vCPU 0 has no exit frame.
    assert.equal((await frames(c, 1)).some((x) => x.name.startsWith('VM exit')), false);
    // An instruction step of vCPU 1 runs its HLT: it is past it and halted.
    const before = Number((await frames(c, 2))[1].instructionPointerReference);
    await runAndStop(c, 'next', { threadId: 2, granularity: 'instruction' });
    assert.equal(Number((await frames(c, 2))[0].instructionPointerReference), before + 1);
    const after = ((await c.request('threads')).body as DebugProtocol.ThreadsResponse['body']).threads;
    assert.equal(after[1].name, 'vCPU 1 · non-root · ring 0 · halted');
    await c.request('terminate');
  });

  test('a triple fault with its filter on is an exception stop; continuing ends the session', async () => {
    const c = startSession(files);
    await launch(c, { program: '/v/triple.asm' }, { exceptionFilters: [{ filterId: 'triple-fault' }] });
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'exception');
    assert.equal(stop?.body.description, 'Triple fault');
    const info = await c.request('exceptionInfo', { threadId: 1 });
    assert.equal(info.success, true, info.message);
    assert.equal((info.body as DebugProtocol.ExceptionInfoResponse['body']).exceptionId, 'triple-fault');
    assert.equal(await runAndStop(c, 'continue'), undefined);
    assert.match(c.outputText('stderr'), /Guest stopped \(triple-fault\)/);
  });

  test('a failed VM entry with the entry-failure filter on is an exception stop', async () => {
    const c = startSession(files);
    // A real-mode guest needs "unrestricted guest": without it CR0's fixed bits fail the entry checks.
    const r = await launch(c, { program: '/v/real.asm', vm: { controls: { secondary: { UNRESTRICTED_GUEST: false } } } }, { exceptionFilters: [{ filterId: 'entry-failure' }] });
    assert.equal(r.success, true, r.message);
    const stop = await nextStop(c, 0);
    assert.equal(stop?.body.reason, 'exception');
    assert.equal(stop?.body.description, 'VM-entry failure (VM exit 33 INVALID_STATE)');
    const info = await c.request('exceptionInfo', { threadId: 1 });
    assert.match((info.body as DebugProtocol.ExceptionInfoResponse['body']).description ?? '', /CR0/);
    assert.equal(await runAndStop(c, 'continue'), undefined);
    assert.match(c.outputText('stderr'), /Guest stopped \(error\)/);
  });

  test('console options: output off hides guest output, traceExits prints one line per exit', async () => {
    const c = startSession(files);
    await launch(c, { program: '/v/real.asm', console: { output: false, traceExits: true } });
    await c.event('terminated');
    assert.equal(c.outputText('stdout'), '');
    const lines = c.outputs('console').map((e) => e.body.output).filter((t) => t.startsWith('exit #'));
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^exit #1 vcpu0 30 IO_INSTRUCTION rip=0x7C02/);
  });
});
