// test/fixtures/cpu-conformance/v86.asm: virtual-8086 mode entered through
// IRETD. Cross-checked on Bochs with test/cpu/bochs-check.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Machine } from '../../src/x86/machine';
import { hex, ORG, programImage, readLog, result, runFlat, STACK0, text, type GuestRun } from './guest-programs';

let cached: GuestRun | undefined;
const run = (): GuestRun => (cached ??= runFlat('v86'));
const log = () => readLog(run().m);
const VM = 0x20000;

const t = test;

t('the CPU reports virtual-8086 mode, CPL 3, while the v86 code runs', () => {
  const m = new Machine({ memorySize: 16 << 20 });
  m.loadFlat32(programImage('v86'), ORG);
  m.run(100_000);
  const marker = m.memory.read32(0x20000 + 4 * 10);
  m.loadFlat32(programImage('v86'), ORG);
  m.addBreakpoint(marker);
  const stop = m.run(100_000);
  assert.equal(stop.reason, 'breakpoint', stop.message);
  const s = m.state();
  assert.equal(s.mode, 'v86');
  assert.equal(s.cpl, 3);
  assert.equal(s.cs, 0x0800);
  assert.equal(hex(s.eflags & VM), hex(VM));
});

const sensitive = ['pushf', 'cli', 'sti', 'popf', 'int 0x21', 'iret', 'hlt'];
sensitive.forEach((insn, i) => {
  t(`IOPL 0: ${insn} in v86 raises #GP(0) at the instruction`, () => {
    const e = log().find((x) => x.id === i + 1);
    assert.ok(e, 'no exception');
    assert.deepEqual([e.vector, e.error], [13, 0]);
    assert.equal(hex(e.eip), hex(e.expectedEip));
    assert.equal(e.cs, 0x0800);
  });
});

t('an interrupt from v86 pushes ES, DS, FS, GS and SS:ESP on the ring-0 stack and nulls the data segments', () => {
  const e = log().find((x) => x.id === 1);
  assert.ok(e);
  assert.equal(hex(e.eflags & VM), hex(VM), 'saved EFLAGS.VM');
  assert.equal(hex(e.frame), hex(STACK0 - 36), 'GS FS DS ES SS ESP EFLAGS CS EIP and the error code');
  assert.deepEqual([e.ss, e.esp].map(hex), [0x0700, 0x0ff0].map(hex));
  assert.deepEqual(e.v86Segments.map(hex), [0x2000, 0x3000, 0, 0].map(hex));
  assert.equal(e.handlerDs, 0, 'DS inside the handler');
});

t('port I/O in v86 follows the TSS I/O bitmap: 0xE9 allowed', () => {
  assert.equal(result(run().m, 2), 0xe9);
  assert.equal(text(run().m.console.e9), 'V');
});
t('port I/O in v86: a port whose bitmap bit is set raises #GP(0)', () => {
  const e = log().find((x) => x.id === 8);
  assert.ok(e);
  assert.deepEqual([e.vector, e.error], [13, 0]);
  assert.equal(hex(e.eip), hex(e.expectedEip));
});
t('port I/O in v86: a port past the end of the bitmap raises #GP(0)', () => {
  const e = log().find((x) => x.id === 9);
  assert.ok(e);
  assert.deepEqual([e.vector, e.error], [13, 0]);
});
t('int3 in v86 is not IOPL-sensitive: #BP through the DPL-3 gate', () => {
  const e = log().find((x) => x.id === 10);
  assert.ok(e);
  assert.equal(e.vector, 3);
  assert.equal(hex(e.eip), hex(e.expectedEip));
});
t('IOPL 3: pushf shows IOPL 3 and IF, cli clears IF, pushfd hides VM', () => {
  const m = run().m;
  assert.equal(hex(result(m, 3) & 0x3200), hex(0x3200));
  assert.equal(result(m, 4) & VM, 0, `pushfd image ${hex(result(m, 4))}`);
  assert.equal(hex(result(m, 4) & 0x3200), hex(0x3200));
  assert.equal(result(m, 5) & 0x200, 0);
});
t('IOPL 3: int n from v86 goes through the protected-mode IDT', () => {
  const e = log().find((x) => x.id === 12);
  assert.ok(e);
  assert.equal(e.vector, 0x80);
  assert.equal(hex(e.eip), hex(e.expectedEip));
  assert.equal(hex(e.eflags & (VM | 0x3000)), hex(VM | 0x3000));
});
t('v86: mov ax, cs / ss read the real-mode style selectors', () => {
  assert.equal(hex(result(run().m, 0)), hex(0x0800));
  assert.equal(hex(result(run().m, 1)), hex(0x0700));
});
t('v86: exactly the expected exceptions, and the program ends', () => {
  assert.deepEqual(log().map((e) => [e.id, e.vector]), [
    [1, 13], [2, 13], [3, 13], [4, 13], [5, 13], [6, 13], [7, 13], [8, 13], [9, 13], [10, 3], [11, 13], [12, 0x80], [0, 0x81],
  ]);
  assert.equal(hex(result(run().m, 31)), hex(0x600df00d));
  assert.equal(run().stop.reason, 'hlt');
});
