// The software techniques (src/vmm/soft, docs/techniques.md) on the example
// kernel of examples/techniques: trap-and-emulate loses the interrupt flag
// at the critical section's POPF and halts for good; binary translation and
// the paravirtualized build give the native console output; every run is
// deterministic. Small guests pin the translation cache (self-modifying
// code) and the hole report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../../src/x86/asm/index';
import { buildKernel, EXPECTED_CONSOLE } from '../../examples/techniques-kernels';
import { createSoftVm, type SoftTechnique, type SoftVm } from '../../../src/vmm/soft/index';

const BUDGET = 20_000_000;

const NATIVE_CONSOLE = EXPECTED_CONSOLE;

const kernel = buildKernel('kernel.asm');
const kernelPv = buildKernel('kernel-pv.asm');

function boot(technique: SoftTechnique, image: Uint8Array, org = 0x10000): SoftVm {
  return createSoftVm({ technique, image, org });
}

const text = (vm: SoftVm): string => String.fromCharCode(...vm.output);

test('trap-and-emulate: the POPF of the critical section is a hole, the virtual IF stays 0 and the kernel halts for good', () => {
  const vm = boot('trap-and-emulate', kernel.bytes);
  const stop = vm.run(BUDGET);
  assert.equal(stop.reason, 'hlt');
  assert.match(stop.message, /virtual\) interrupts disabled/);
  assert.equal(text(vm), NATIVE_CONSOLE.split('\n').slice(0, 2).join('\n') + '\n');
  const first = vm.holes[0];
  assert.equal(first.instruction, 'popf');
  assert.match(first.saw, /IF=0/);
  assert.match(first.expected, /IF=1/);
  // Each of the 100 critical sections: POPF drops IF=1; from the second on, PUSHF shows the real IF=1 where the guest has 0.
  assert.equal(vm.holes.filter((h) => h.instruction === 'popf').length, 100);
  assert.equal(vm.holes.filter((h) => h.instruction === 'pushf').length, 99);
  const r = vm.stats.report();
  assert.equal(r.byKind.find((k) => k.key === '#GP: cli')?.count, 100);
  assert.equal(r.byKind.find((k) => k.key === '#GP: sti')?.count, 1);
  assert.equal(r.translation.blocks, 0);
});

test('binary translation: the same kernel gives the native output, with no hole and no trapped privileged instruction', () => {
  const vm = boot('binary-translation', kernel.bytes);
  const stop = vm.run(BUDGET);
  assert.equal(stop.reason, 'shutdown');
  assert.equal(text(vm), NATIVE_CONSOLE);
  assert.equal(vm.holes.length, 0);
  const r = vm.stats.report();
  assert.equal(r.byKind.filter((k) => k.key.startsWith('#GP')).length, 0, 'privileged instructions are callouts, not traps');
  assert.equal(r.byKind.find((k) => k.key === 'callout: popf')?.count, 100);
  assert.equal(r.byKind.find((k) => k.key === 'callout: pushf')?.count, 100);
  assert.ok(r.translation.blocks > 0 && r.translation.chained > r.translation.lookups, JSON.stringify(r.translation));
  // Only kernel code is translated: nothing in the user task's page.
  for (const b of vm.translator!.cached()) assert.ok(b.start < 0x11000 || b.start >= 0x12000, `block at 0x${b.start.toString(16)}`);
});

test('paravirtualization: the PV build gives the native output through hypercalls, with no trapped instruction', () => {
  const vm = boot('paravirt', kernelPv.bytes);
  const stop = vm.run(BUDGET);
  assert.equal(stop.reason, 'shutdown');
  assert.equal(stop.code, 0);
  assert.equal(text(vm), NATIVE_CONSOLE);
  const r = vm.stats.report();
  const calls = Object.fromEntries(r.hypercalls.map((h) => [h.key, h.count]));
  assert.equal(calls['IRQ_DISABLE'], 101);
  assert.equal(calls['IRQ_RESTORE'], 101);
  assert.equal(calls['SET_TRAP_TABLE'], 1);
  assert.equal(calls['SET_PAGING'], 1);
  assert.equal(calls['SHUTDOWN'], 1);
  assert.equal(r.byKind.filter((k) => k.key.startsWith('#GP')).length, 0);
  assert.equal(vm.holes.length, 0);
  assert.deepEqual(vm.pv!.trapTable().map((e) => e.vector), [0x0d, 0x0e, 0x20, 0x27, 0x80]);
});

test('every technique is deterministic: the same guest gives the same statistics, output and stop', () => {
  for (const [t, image] of [['trap-and-emulate', kernel.bytes], ['binary-translation', kernel.bytes], ['paravirt', kernelPv.bytes]] as const) {
    const a = boot(t, image), b = boot(t, image);
    const sa = a.run(BUDGET), sb = b.run(BUDGET);
    assert.deepEqual(sb, sa, t);
    assert.deepEqual(b.stats.report(), a.stats.report(), t);
    assert.equal(text(b), text(a), t);
  }
});

test('binary translation: a store into translated code drops its block, and the new code runs', () => {
  // The kernel patches the immediate of an instruction it already ran, then runs it again.
  const { bytes } = assembleInline(`
    bits 32
    org 0x1000
      mov esi, 2
    again:
      mov eax, 0x41          ; patched to 0x42 below
    patch equ $ - 4
      mov dx, 0xe9
      mov [out_char], al
      mov ecx, 0x3f8
      mov dx, cx
      out dx, al
      dec esi
      jz done
      mov byte [patch], 0x42
      jmp again
    done:
      mov dx, 0x501
      mov al, 0
      out dx, al
      hlt
    out_char: db 0
  `);
  const vm = boot('binary-translation', bytes, 0x1000);
  const stop = vm.run(100_000);
  assert.equal(stop.reason, 'shutdown');
  assert.equal(text(vm), 'AB');
  assert.ok(vm.stats.translation.invalidations >= 1);
});

test('trap-and-emulate: SGDT and reading CS or SS report holes with the values the guest saw', () => {
  const { bytes } = assembleInline(`
    bits 32
    org 0x1000
      sgdt [gdt_copy]
      smsw ax                ; no hole: the real CR0's low word is the guest's (PG and WP are above it)
      mov bx, cs
      push ss
      pop ecx
      mov dx, 0x501
      mov al, 0
      out dx, al
      hlt
    gdt_copy: dq 0
  `);
  const vm = boot('trap-and-emulate', bytes, 0x1000);
  vm.run(10_000);
  assert.deepEqual(vm.holes.map((h) => h.instruction), ['sgdt [dword 0x1018]', 'mov bx,cs', 'push ss']);
  assert.match(vm.holes[0].saw, /0xFFC00000/);
  assert.match(vm.holes[0].expected, /0x00000500/);
  assert.match(vm.holes[1].saw, /0x0009 \(RPL 1\)/);
  // The guest really got the VMM's GDTR.
  const base = vm.cpu.mem.read32(0x1018 + 2) >>> 0;
  assert.equal(base, 0xffc00000);
});

test('bad configurations are refused clearly', () => {
  assert.throws(() => createSoftVm({ technique: 'vtx' as SoftTechnique, image: new Uint8Array(1) }), /technique must be one of/);
});

function assembleInline(source: string): { bytes: Uint8Array } {
  const r = assemble(source, { fileName: 'inline.asm' });
  assert.equal(r.ok, true, r.diagnostics.map((d) => d.message).join('\n'));
  return { bytes: r.bytes };
}
