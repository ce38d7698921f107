// test/fixtures/cpu-conformance/restart.asm: self-modifying code, faults
// that restart an instruction (page-crossing fetch and data, REP MOVSD half
// done) and the MOV SS single-step shadow. Cross-checked on Bochs with
// test/cpu/bochs-check.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, readLog, result, runFlat, type GuestRun } from './guest-programs';

let cached: GuestRun | undefined;
const run = (): GuestRun => (cached ??= runFlat('restart'));
const r = (slot: number): number => result(run().m, slot);
const log = () => readLog(run().m);

const t = test;

t('SMC: a store into the next instruction takes effect', () => assert.equal(hex(r(0)), hex(0x42)));
t('SMC: patching a loop body that already ran', () => assert.equal(hex(r(1)), hex(0x12)));
t('SMC: a store through another linear alias of the code page', () => assert.equal(hex(r(2)), hex(0x37)));
t('SMC: a store into an instruction further on in the same straight-line run', () => assert.equal(hex(r(8)), hex(0x55)));
t('code at a remapped linear address: the new page runs after INVLPG', () => {
  assert.equal(hex(r(17)), hex(0xaaaa));
  assert.equal(hex(r(18)), hex(0xbbbb));
});

t('an instruction crossing into a not-present page: #PF at its start, CR2 on the second page, then restarted', () => {
  const e = log().find((x) => x.id === 1);
  assert.ok(e);
  assert.equal(e.vector, 14);
  assert.equal(e.error, 0);
  assert.equal(hex(e.eip), hex(0xc08ffe));
  assert.equal(hex(e.cr2), hex(0xc09000));
  assert.equal(hex(r(3)), hex(0x12345678));
});

t('a dword crossing into a not-present page: #PF with CR2 on the second page, then restarted', () => {
  const e = log().find((x) => x.id === 2);
  assert.ok(e);
  assert.deepEqual([e.vector, e.error], [14, 0]);
  assert.equal(hex(e.eip), hex(e.expectedEip));
  assert.equal(hex(e.cr2), hex(0xc0b000));
  assert.equal(hex(r(4)), hex(0x44332211));
});

t('rep movsd faulting half-way: ECX/ESI/EDI show the progress, and the restart finishes the copy', () => {
  const e = log().find((x) => x.id === 3);
  assert.ok(e);
  assert.deepEqual([e.vector, e.error], [14, 2]);
  assert.equal(hex(e.eip), hex(e.expectedEip), 'saved EIP is the rep movsd');
  assert.equal(hex(e.cr2), hex(0xc0d000));
  assert.equal(e.ecx, 6, 'two dwords copied before the fault');
  assert.equal(hex(e.edi), hex(0xc0d000));
  assert.equal(r(5), 0, 'ECX after');
  assert.equal(hex(r(6)), hex(0xc0d018), 'EDI after');
  assert.equal(hex(r(7)), hex(0xa7), 'last dword copied');
});

t('MOV SS and POP SS: no single-step trap right after them, the next one reports the following instruction', () => {
  const steps = log().filter((e) => e.vector === 1);
  assert.deepEqual(steps.map((e) => hex(e.eip)), [10, 11, 12, 13, 14, 15, 16].map((s) => hex(r(s))));
  for (const e of steps) assert.equal(hex(e.dr6 & 0x4000), hex(0x4000), 'DR6.BS');
});

t('the program runs to its end', () => {
  assert.equal(hex(r(31)), hex(0x600df00d));
  assert.equal(run().stop.reason, 'hlt', run().stop.message);
});
