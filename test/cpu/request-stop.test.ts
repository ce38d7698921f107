// requestStop() from a device callback ends the run right after the current
// instruction, even in the middle of a compiled (or translated) block.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Machine } from '../../src/x86/machine';

// flat32 loop: l: inc eax; out 0x99, al; inc ebx; jmp l
const CODE = [0x40, 0xe6, 0x99, 0x43, 0xeb, 0xfa];

for (const jit of [true, false]) {
  test(`a device stops the machine right after its OUT (JIT ${jit ? 'on' : 'off'})`, () => {
    const m = new Machine();
    m.engine.jitEnabled = jit;
    m.loadFlat32(new Uint8Array(CODE), 0x100000);
    let outs = 0;
    m.io.register(0x99, 0x99, {
      in: () => 0xff,
      out: () => { if (++outs === 50) m.cpu.requestStop('shutdown', 'device asked to stop'); },
    });
    const stop = m.run(10_000);
    assert.equal(stop.reason, 'shutdown');
    assert.equal(stop.message, 'device asked to stop');
    const s = m.state();
    assert.equal(s.eax, 50);
    assert.equal(s.ebx, 49, 'the instruction after the OUT must not run');
    assert.equal(s.eip, 0x100003);
    assert.equal(m.instructionCount, 50 * 4 - 2);
  });
}
