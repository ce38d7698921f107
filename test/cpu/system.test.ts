// test/fixtures/cpu-conformance/system.asm: accessed bits, LDT, cmpxchg8b,
// 16-bit code, expand-down segments, single-step and debug-register
// breakpoints, a hardware task switch, and from ring 3: segment nulling by
// IRET, conforming code, a call gate with parameters, #AC. The expected
// values were cross-checked on Bochs with test/cpu/bochs-check.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hex, readLog, result, runFlat, STACK0, STACK3, type GuestRun, type LogEntry } from './guest-programs';

let cached: GuestRun | undefined;
const run = (): GuestRun => (cached ??= runFlat('system'));
const r = (slot: number): number => result(run().m, slot);
const log = (): LogEntry[] => readLog(run().m);
const dr6 = (e: LogEntry): number => e.dr6;

const t = test;

t('loading a segment register sets the accessed bit in its descriptor', () => {
  assert.equal(hex(r(1)), hex(0x92));
  assert.equal(hex(r(0)), hex(0x93));
});

t('LDT: lldt, sldt, and a data segment from the LDT (TI=1)', () => {
  assert.equal(hex(r(2)), hex(0x68));
  assert.equal(hex(r(3)), hex(0xabcd1234));
  assert.equal(hex(run().m.memory.read32(0x51010)), hex(0xabcd1234));
});

t('cmpxchg8b: equal stores ECX:EBX and sets ZF; not equal loads EDX:EAX', () => {
  assert.equal(log().find((e) => e.id === 1), undefined, 'cmpxchg8b raised an exception');
  assert.deepEqual([4, 5, 6, 7, 8, 9].map((s) => hex(r(s))), [1, 0x44444444, 0x33333333, 0, 0x44444444, 0x33333333].map(hex));
});

t('16-bit code segment: 16-bit operands by default, push ax moves ESP by 2', () => {
  assert.equal(hex(r(10)), hex(0x2468));
  assert.equal(r(11), 2);
});

t('expand-down segment: offsets at or below the limit raise #GP(0)', () => {
  const e = log().find((x) => x.id === 2);
  assert.ok(e, 'no fault');
  assert.equal(e.vector, 13);
  assert.equal(e.error, 0);
  assert.equal(hex(e.eip), hex(e.expectedEip));
});

t('single-step: TF set by popfd traps after each of the next five instructions', () => {
  const steps = log().filter((e) => e.vector === 1 && e.id === 0).slice(0, 5);
  assert.deepEqual(steps.map((e) => hex(e.eip)), [20, 21, 22, 23, 24].map((s) => hex(r(s))));
});

t('single-step #DB sets DR6.BS', () => {
  const steps = log().filter((e) => e.vector === 1 && e.id === 0).slice(0, 5);
  assert.equal(steps.length, 5);
  for (const e of steps) assert.equal(hex(dr6(e) & 0x400f), hex(0x4000), `at ${hex(e.eip)}`);
});

t('DR0 execution breakpoint: #DB fault at the instruction, DR6.B0; RF=1 lets it run once', () => {
  const e = log().filter((x) => x.vector === 1)[5];
  assert.ok(e, 'no sixth #DB');
  assert.equal(hex(e.eip), hex(r(26)));
  assert.equal(hex(dr6(e) & 0x400f), hex(0x1));
  assert.equal(r(25), 1, 'the instruction ran exactly once');
});

t('DR1 data write breakpoint: #DB trap after the write, DR6.B1; a read does not trigger it', () => {
  const e = log().filter((x) => x.vector === 1)[6];
  assert.ok(e, 'no seventh #DB');
  assert.equal(hex(e.eip), hex(r(27)));
  assert.equal(hex(dr6(e) & 0x400f), hex(0x2));
});

t('DR4 reads as DR6 with CR4.DE clear, and raises #UD with CR4.DE set', () => {
  assert.equal(hex(r(64)), hex(0xffff0ff0));
  const e = log().find((x) => x.id === 3);
  assert.ok(e, 'no #UD');
  assert.equal(e.vector, 6);
  assert.equal(hex(e.eip), hex(e.expectedEip));
});

t('DR7.GD: a debug-register access raises #DB (fault) with DR6.BD, and GD is cleared', () => {
  const e = log().find((x) => x.id === 4);
  assert.ok(e, 'no #DB');
  assert.equal(e.vector, 1);
  assert.equal(hex(e.eip), hex(e.expectedEip), 'saved EIP is the mov');
  assert.equal(hex(e.dr6 & 0x200f), hex(0x2000), 'DR6.BD');
  assert.equal(r(65) & 0x2000, 0, 'DR7.GD after the #DB');
});

t('task switch by CALL to a TSS: new task runs with NT=1, back link, both TSSs busy', () => {
  assert.equal(log().find((e) => e.id === 5), undefined, 'call to the TSS raised an exception');
  assert.equal(hex(r(34)), hex(0x90), 'TR in the new task');
  assert.equal(hex(r(35)), hex(0x4000), 'NT set');
  assert.equal(hex(r(36)), hex(0x28), 'back link');
  assert.equal(hex(r(37)), hex(0x8b), 'new TSS busy');
  assert.equal(hex(r(38)), hex(r(39)), 'old TSS holds the return EIP');
});

t('IRET with NT=1 returns to the calling task, clears its busy bit, sets CR0.TS', () => {
  assert.equal(hex(r(30)), hex(0x28), 'TR back to the first task');
  assert.equal(r(31), 0, 'NT clear again');
  assert.equal(hex(r(32)), hex(0x89), 'second TSS no longer busy');
  assert.equal(hex(r(33)), hex(0x8b), 'first TSS still busy');
  assert.equal(r(40), 8, 'CR0.TS');
});

t('a trap gate keeps IF set in the handler; an interrupt gate clears it', () => {
  const trap = log().find((e) => e.vector === 0x82);
  const intr = log().find((e) => e.vector === 3);
  assert.ok(trap && intr);
  assert.equal(hex(trap.eflags & 0x200), hex(0x200), 'IF was set when int 0x82 ran');
  assert.equal(hex(trap.handlerEflags & 0x200), hex(0x200), 'trap gate');
  assert.equal(intr.handlerEflags & 0x200, 0, 'interrupt gate');
});

t('a 16-bit interrupt gate pushes FLAGS, CS, IP as words and o16 iret returns', () => {
  assert.equal(r(60), 6, 'frame size');
  assert.equal(hex(r(61)), hex(r(63)), 'IP pushed');
  assert.equal(hex(r(62)), hex(0x08), 'CS pushed');
});

t('IRET to ring 3 nulls DS, ES, FS, GS holding DPL-0 data selectors', () => {
  assert.deepEqual([41, 42, 43, 44].map(r), [0, 0, 0, 0]);
});

t('a far call to a conforming segment keeps CPL 3 (CS.RPL = 3)', () => {
  assert.equal(log().find((e) => e.id === 6), undefined);
  assert.equal(hex(r(45)), hex(0x7b));
});

t('call gate from ring 3: stack switch to ESP0, two parameters copied, retf 8 back', () => {
  assert.equal(log().find((e) => e.id === 7), undefined);
  assert.equal(hex(r(47)), hex(r(48)), 'return EIP');
  assert.equal(hex(r(49)), hex(0x1b), 'return CS');
  assert.deepEqual([r(50), r(51)].map(hex), [0x2222, 0x1111].map(hex), 'parameters in order');
  assert.equal(hex(r(52)), hex(STACK3 - 8), 'caller ESP');
  assert.equal(hex(r(53)), hex(0x23), 'caller SS');
  assert.equal(hex(r(54)), hex(STACK0 - 24), 'ESP in the gate target');
  assert.equal(hex(r(55)), hex(0x08), 'CS in the gate target');
  assert.equal(hex(r(56)), hex(STACK3), 'ESP after retf 8');
});

t('#AC(0) for a misaligned dword at CPL 3 with CR0.AM and EFLAGS.AC', () => {
  const e = log().find((x) => x.id === 8);
  assert.ok(e, 'no #AC');
  assert.equal(e.vector, 17);
  assert.equal(e.error, 0);
  assert.equal(hex(e.eip), hex(e.expectedEip));
  assert.equal(e.cs, 0x1b);
});

t('the program stops through the exit gate', () => {
  const last = log().at(-1);
  assert.equal(last?.vector, 0x81);
  assert.equal(run().stop.reason, 'hlt');
});
