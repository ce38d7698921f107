// test/fixtures/cpu-conformance/privilege.asm: a ring-3 task entered through
// IRETD with a TSS; #GP(0) for privileged instructions, the ring-0 stack
// switch, the POPF virtualization hole, and ring-0 state visible from ring 3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, readLog, result, runFlat, STACK0, STACK3, text, type GuestRun } from './guest-programs';

let cached: GuestRun | undefined;
const run = (): GuestRun => (cached ??= runFlat('privilege'));
const log = () => readLog(run().m);
const IF = 0x200, IOPL = 0x3000;

const t = test;

const gp0 = ['hlt', 'cli', 'lgdt', 'mov cr0, eax', 'in al, 0xE9', 'out 0xE9, al'];
gp0.forEach((insn, i) => {
  t(`ring 3, IOPL 0: ${insn} raises #GP(0) at the instruction`, () => {
    const e = log().find((x) => x.id === i + 1);
    assert.ok(e, `no exception for ${insn}`);
    assert.equal(e.vector, 13);
    assert.equal(e.error, 0);
    assert.equal(hex(e.eip), hex(e.expectedEip));
    assert.equal(e.cs, 0x1b, 'saved CS is the ring-3 selector');
  });
});

const more = ['clts', 'lidt', 'lldt', 'ltr', 'lmsw', 'invlpg', 'wbinvd', 'mov eax, dr7', 'mov eax, cr0', 'rdmsr', 'wrmsr',
  'rdtsc with CR4.TSD=1', 'rdpmc with CR4.PCE=0'];
const selectorFaults: [string, number][] = [['mov ds, ax with a DPL-0 data selector', 0x10], ['mov ss, ax with RPL 0', 0x20]];
selectorFaults.forEach(([insn, sel], i) => {
  t(`ring 3: ${insn} raises #GP(selector)`, () => {
    const e = log().find((x) => x.id === 10 + more.length + i);
    assert.ok(e, `no exception for ${insn}`);
    assert.deepEqual([e.vector, hex(e.error)], [13, hex(sel)]);
    assert.equal(hex(e.eip), hex(e.expectedEip));
  });
});
more.forEach((insn, i) => {
  t(`ring 3: ${insn} raises #GP(0) at the instruction`, () => {
    const e = log().find((x) => x.id === 10 + i);
    assert.ok(e, `no exception for ${insn}`);
    assert.deepEqual([e.vector, e.error], [13, 0]);
    assert.equal(hex(e.eip), hex(e.expectedEip));
    assert.equal(e.cs, 0x1b);
  });
});

t('interrupt from ring 3 switches to the TSS ring-0 stack and pushes the ring-3 SS:ESP', () => {
  const e = log().find((x) => x.id === 1);
  assert.ok(e);
  // SS, ESP, EFLAGS, CS, EIP, error code pushed on the ESP0 stack
  assert.equal(hex(e.frame), hex(STACK0 - 20));
  assert.equal(e.ss, 0x23);
  assert.equal(hex(e.esp), hex(STACK3));
  assert.ok(e.eflags & IF, 'saved EFLAGS has IF set');
});

t('#GP from ring 3 pushes EFLAGS with RF=1 (a fault)', () => {
  for (const id of [1, 2, 3, 4, 5, 6, 7]) {
    const e = log().find((x) => x.id === id);
    assert.ok(e);
    assert.equal(hex(e.eflags & 0x10000), hex(0x10000), `TRY ${id}`);
  }
});

t('int n through a DPL-0 gate from ring 3 raises #GP(vector*8+2)', () => {
  const e = log().find((x) => x.id === 7);
  assert.ok(e);
  assert.equal(e.vector, 13);
  assert.equal(hex(e.error), hex(0x82 * 8 + 2));
  assert.equal(hex(e.eip), hex(e.expectedEip));
});

t('int3 through a DPL-3 gate from ring 3 is a #BP trap', () => {
  const e = log().find((x) => x.id === 8);
  assert.ok(e);
  assert.equal(e.vector, 3);
  assert.equal(hex(e.eip), hex(e.expectedEip));
  assert.equal(e.cs, 0x1b);
});

t('exactly the expected interrupts happen, in order', () => {
  assert.deepEqual(log().map((e) => [e.id, e.vector]), [
    [1, 13], [2, 13], [3, 13], [4, 13], [5, 13], [6, 13], [7, 13], [8, 3], [9, 0x80],
    ...more.map((_, i) => [10 + i, 13]), [23, 13], [24, 13], [0, 0x81],
  ]);
});

t('POPF in ring 3 with IOPL 0 leaves IF set and IOPL 0, without faulting', () => {
  const before = result(run().m, 0);
  const after = result(run().m, 1);
  assert.ok(before & IF, `before: ${hex(before)}`);
  assert.equal(before & IOPL, 0);
  assert.ok(after & IF, `IF must stay set: ${hex(after)}`);
  assert.equal(after & IOPL, 0, `IOPL must stay 0: ${hex(after)}`);
});

t('SGDT, SIDT, SMSW, STR in ring 3 reveal the ring-0 values', () => {
  const m = run().m;
  assert.equal(hex(result(m, 2)), hex(result(m, 32)), 'SGDT limit and base low');
  assert.equal(hex(result(m, 3) & 0xffff), hex(result(m, 33) & 0xffff), 'SGDT base high');
  assert.equal(hex(result(m, 4)), hex(result(m, 34)), 'SIDT');
  assert.equal(hex(result(m, 5) & 0xffff), hex(result(m, 35) & 0xffff), 'SIDT base high');
  assert.equal(result(m, 6) & 0xffff, result(m, 36) & 0xffff, 'SMSW');
  assert.equal(result(m, 6) & 1, 1, 'SMSW shows PE');
  assert.equal(result(m, 7) & 0xffff, 0x28, 'STR');
  assert.equal(result(m, 37) & 0xffff, 0x28);
});

t('mov ax, cs / ss in ring 3 show RPL 3', () => {
  assert.equal(hex(result(run().m, 8) & 0xffff), hex(0x1b));
  assert.equal(hex(result(run().m, 9) & 0xffff), hex(0x23));
});

t('with IOPL 3 (set by the kernel), cli, in, out and POPF.IF work in ring 3', () => {
  const m = run().m;
  assert.equal(result(m, 10) & IOPL, IOPL, `after int 0x80: ${hex(result(m, 10))}`);
  assert.equal(result(m, 11) & IF, 0, 'cli cleared IF');
  assert.equal(result(m, 12), 0xe9, 'in al, 0xE9');
  assert.equal(text(m.console.e9), 'R3');
  assert.equal(result(m, 13) & IF, 0, 'POPF cleared IF');
  assert.equal(result(m, 13) & IOPL, IOPL, 'POPF at CPL 3 cannot change IOPL');
});

t('the program stops on the ring-0 hlt with IF clear', () => {
  assert.equal(run().stop.reason, 'hlt', run().stop.message);
  assert.equal(run().m.state().cpl, 0);
});
