// Call stacks: the EBP chain where the guest keeps frame pointers (locals
// that look like return addresses are not taken for callers), the stack scan
// where a frame has none (a leaf, a function before `mov ebp, esp`) and in a
// guest without frame pointers.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { GUESTS, startSession, launch, nextStop, frames } from './transcripts/harness';

const files: Record<string, string | Uint8Array> = {
  ...GUESTS,
  '/f/fp.asm': [
    '        bits 32', //  1
    '        org 0x1000', //  2
    'start:  mov esp, 0x80000', //  3
    '        xor ebp, ebp', //  4
    '        call outer', //  5
    '        hlt', //  6
    'outer:  push ebp', //  7
    '        mov ebp, esp', //  8
    '        push dword decoy', //  9  a local that looks like a return address
    '        call inner', // 10
    '        leave', // 11
    '        ret', // 12
    'inner:  push ebp', // 13
    '        mov ebp, esp', // 14
    '        push dword decoy', // 15  another one
    '        push dword 0', // 16
    '        call leaf', // 17
    '        leave', // 18
    '        ret', // 19
    'leaf:   nop', // 20  no frame of its own
    '        ret', // 21
    'never:  call leaf', // 22  never runs: `decoy` is the address after a CALL
    'decoy:  ret', // 23
  ].join('\n'),
  '/f/nofp.asm': [
    '        bits 32', //  1
    '        org 0x1000', //  2
    'start:  mov esp, 0x80000', //  3
    '        mov ebp, 0x12345678', //  4  EBP holds data, not a frame pointer
    '        call outer', //  5
    '        hlt', //  6
    'outer:  push esi', //  7
    '        call inner', //  8
    '        pop esi', //  9
    '        ret', // 10
    'inner:  nop', // 11
    '        ret', // 12
  ].join('\n'),
};

/** The guest frames when stopped at `line` (the first time), as "function@line". */
async function stackAt(program: string, line: number): Promise<string[]> {
  const c = startSession(files);
  const r = await launch(c, { program, mode: 'flat32' }, { breakpoints: { [program]: [{ line }] } });
  assert.equal(r.success, true, r.message);
  const stop = await nextStop(c, 0);
  assert.equal(stop?.body.reason, 'breakpoint');
  const f: DebugProtocol.StackFrame[] = await frames(c);
  await c.request('terminate');
  return f.map((x) => `${x.name.replace(/ \(.*\)$/, '').replace(/\+0x[0-9A-F]+$/, '')}@${x.line}`);
}

describe('call stacks', () => {
  test('frame pointers: the EBP chain gives the callers; locals that look like return addresses are no frames', async () => {
    assert.deepEqual(await stackAt('/f/fp.asm', 16), ['inner@16', 'outer@10', 'start@5']);
  });

  test('a function before its `push ebp; mov ebp, esp`: its return address is on the stack, then the chain goes on', async () => {
    assert.deepEqual(await stackAt('/f/fp.asm', 13), ['inner@13', 'outer@10', 'start@5']);
    assert.deepEqual(await stackAt('/f/fp.asm', 14), ['inner@14', 'outer@10', 'start@5']);
  });

  test('a leaf without a frame called from frames with one', async () => {
    assert.deepEqual(await stackAt('/f/fp.asm', 20), ['leaf@20', 'inner@17', 'outer@10', 'start@5']);
    // Its RET, and the caller's LEAVE and RET: frames torn down or about to be.
    assert.deepEqual(await stackAt('/f/fp.asm', 21), ['leaf@21', 'inner@17', 'outer@10', 'start@5']);
    assert.deepEqual(await stackAt('/f/fp.asm', 18), ['inner@18', 'outer@10', 'start@5']);
    assert.deepEqual(await stackAt('/f/fp.asm', 19), ['inner@19', 'outer@10', 'start@5']);
  });

  test('a guest without frame pointers: the callers are found by scanning the stack', async () => {
    assert.deepEqual(await stackAt('/f/nofp.asm', 11), ['inner@11', 'outer@8', 'start@5']);
    assert.deepEqual(await stackAt('/f/nofp.asm', 9), ['outer@9', 'start@5']);
  });
});
