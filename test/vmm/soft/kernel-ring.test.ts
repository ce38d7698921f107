// The guest kernel in ring 3 (SoftVm's kernelRing: 3, docs/techniques.md
// "Kernel in ring 3"): binary translation still gives the example kernel's
// native output, at the price of a second shadow root and a CR3 switch at
// every change of virtual privilege; trap-and-emulate fails as in ring 1, at
// the same POPF. A small guest pins the isolation the two roots give (the
// user task's read of a kernel page is the guest's own #PF, with the error
// code its hardware would give) and the hole that breaks it under
// trap-and-emulate (the kernel's IRET to user mode does not trap in ring 3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../../src/x86/asm/index';
import { buildKernel, EXPECTED_CONSOLE } from '../../examples/techniques-kernels';
import { createSoftVm, type SoftKernelRing, type SoftTechnique, type SoftVm } from '../../../src/vmm/soft/index';

const BUDGET = 20_000_000;
const kernel = buildKernel('kernel.asm');
const kernelPv = buildKernel('kernel-pv.asm');

function boot(technique: SoftTechnique, kernelRing: SoftKernelRing, image = kernel.bytes, org = 0x10000): SoftVm {
  return createSoftVm({ technique, image, org, kernelRing });
}

const text = (vm: SoftVm): string => String.fromCharCode(...vm.output);
const count = (vm: SoftVm, key: string): number => vm.stats.report().byKind.find((k) => k.key === key)?.count ?? 0;

test('ring 3: the guest kernel really runs at CPL 3, on a GDT whose kernel descriptors were raised to DPL 3', () => {
  for (const technique of ['trap-and-emulate', 'binary-translation'] as const) {
    const vm = boot(technique, 3);
    assert.equal(vm.ring, 3);
    assert.equal(vm.cpu.cpl, 3, technique);
    assert.equal(vm.cpu.seg[1].selector & 3, 3);
    vm.run(2_000);
    // After the kernel's own LGDT: its code (0x08) and data (0x10) descriptors are DPL 3 in the real GDT, its user ones stay DPL 3.
    const dpl = (sel: number): number => (vm.cpu.mem.read32(vm.shadow.gdtHpa + sel + 4) >>> 13) & 3;
    assert.deepEqual([0x08, 0x10, 0x18, 0x20].map(dpl), [3, 3, 3, 3]);
    assert.equal(vm.cpu.cpl, 3);
    assert.equal(vm.v.cpl, 0, 'the VMM knows it runs the kernel');
  }
  // Ring 1, the default, as before.
  const vm1 = boot('binary-translation', 1);
  vm1.run(2_000);
  assert.equal(vm1.ring, 1);
  assert.equal(vm1.cpu.cpl, 1);
  assert.equal((vm1.cpu.mem.read32(vm1.shadow.gdtHpa + 0x08 + 4) >>> 13) & 3, 1);
});

test('the VMM area: a ring-1 kernel can read the real GDT there, a ring-3 kernel cannot', () => {
  const { bytes } = assembleInline(`
    bits 32
    org 0x1000
      mov eax, [0xFFC0000C]
      mov dx, 0x501
      mov al, 0
      out dx, al
      hlt
  `);
  const r1 = createSoftVm({ technique: 'trap-and-emulate', image: bytes, org: 0x1000, kernelRing: 1 });
  assert.equal(r1.run(1_000).reason, 'shutdown');
  // The high dword of the loader's code descriptor (0x08) as the real GDT holds it: DPL 1.
  assert.equal(r1.cpu.r[0] >>> 0, r1.cpu.mem.read32(r1.shadow.gdtHpa + 12) >>> 0);
  assert.equal((r1.cpu.r[0] >>> 13) & 3, 1);
  const r3 = createSoftVm({ technique: 'trap-and-emulate', image: bytes, org: 0x1000, kernelRing: 3 });
  const s3 = r3.run(1_000);
  assert.equal(s3.reason, 'error');
  assert.match(s3.message, /read linear 0xffc0000c, inside the VMM area/);
});

test('binary translation, kernel in ring 3: the native console output; more shadow fills and a CR3 switch per change of virtual privilege', () => {
  const r1 = boot('binary-translation', 1), r3 = boot('binary-translation', 3);
  const s1 = r1.run(BUDGET), s3 = r3.run(BUDGET);
  assert.equal(s3.reason, 'shutdown');
  assert.equal(s3.code, s1.code);
  assert.equal(text(r3), EXPECTED_CONSOLE);
  assert.equal(r3.holes.length, 0);
  assert.equal(r3.cpu.icount, r1.cpu.icount, 'the same guest instructions');
  const a = r1.stats.report(), b = r3.stats.report();
  assert.equal(b.byKind.filter((k) => k.key.startsWith('#GP')).length, 0);
  assert.equal(count(r3, 'callout: iret'), count(r1, 'callout: iret'));
  assert.equal(count(r3, 'int 0x80'), 6);
  // The user task's two pages are shadowed twice: once for the user task, once for the kernel's system calls.
  assert.equal(count(r3, '#PF: shadow fill'), count(r1, '#PF: shadow fill') + 2);
  assert.ok(b.traps > a.traps && b.vmmCycles > a.vmmCycles, `ring 1 ${a.traps} traps / ${a.vmmCycles} cycles, ring 3 ${b.traps} / ${b.vmmCycles}`);
  assert.equal(r1.shadow.counters.switches, 0);
  // Into the user task: the first IRET, then one return per timer tick that preempted it and per system call but
  // the exit; out of it, as many deliveries. user_ticks is the kernel's own count of ticks taken in ring 3.
  const userTicks = r3.cpu.mem.read32(0x13004);
  assert.ok(userTicks >= 3, `user_ticks ${userTicks}`);
  assert.equal(r3.shadow.counters.switches, 2 * (1 + userTicks + count(r3, 'int 0x80') - 1));
  assert.equal(r3.v.cpl, 0);
});

test('trap-and-emulate, kernel in ring 3: the same wrong result as in ring 1, first hole at the critical section\'s POPF, the same traps', () => {
  const r1 = boot('trap-and-emulate', 1), r3 = boot('trap-and-emulate', 3);
  const s1 = r1.run(BUDGET), s3 = r3.run(BUDGET);
  assert.equal(s3.reason, 'hlt');
  assert.match(s3.message, /virtual\) interrupts disabled/);
  assert.equal(text(r3), EXPECTED_CONSOLE.split('\n').slice(0, 2).join('\n') + '\n');
  assert.equal(s3.rip, s1.rip);
  const first = r3.holes[0];
  assert.equal(first.instruction, 'popf');
  assert.equal(first.rip, r1.holes[0].rip);
  assert.match(first.why, /POPF in ring 3 with IOPL 0/);
  assert.match(first.saw, /IF=0/);
  assert.match(first.expected, /IF=1/);
  assert.equal(r3.holes.filter((h) => h.instruction === 'popf').length, 100);
  assert.equal(r3.holes.filter((h) => h.instruction === 'pushf').length, 99);
  // The kernel never reaches its user task: nothing tells the rings apart, and the traps are the same ones.
  assert.deepEqual(r3.stats.report().byKind, r1.stats.report().byKind);
  assert.equal(r3.shadow.counters.switches, 0);
});

test('ring 3, reading CS and SS: the holes report RPL 3', () => {
  const { bytes } = assembleInline(`
    bits 32
    org 0x1000
      mov bx, cs
      push ss
      pop ecx
      pushfd
      mov dx, 0x501
      mov al, 0
      out dx, al
      hlt
  `);
  const vm = createSoftVm({ technique: 'trap-and-emulate', image: bytes, org: 0x1000, kernelRing: 3 });
  vm.run(10_000);
  assert.deepEqual(vm.holes.map((h) => h.instruction), ['mov bx,cs', 'push ss', 'pushf']);
  assert.match(vm.holes[0].saw, /CS = 0x000B \(RPL 3\)/);
  assert.match(vm.holes[0].expected, /0x0008 \(RPL 0\)/);
  assert.match(vm.holes[1].saw, /SS = 0x0013 \(RPL 3\)/);
  assert.match(vm.holes[2].saw, /IF=1 IOPL=0 \(the real flags\)/);
  assert.match(vm.holes[2].expected, /IF=0 IOPL=0/);
  assert.equal(vm.cpu.r[3] & 0xffff, 0x0b, 'the guest really got RPL 3');
});

// A kernel that maps a secret on a supervisor page, writes into its user task's read-only code page
// (CR0.WP = 0 lets ring 0 do that), then IRETs to the task. `action` is what happens next: a #PF
// handler and a system call record what the kernel learns, then the guest powers off.
const VARS = 0x7000;
const OUT = { errorCode: 0, cr2: 4, eip: 8, cs: 12, ss: 16, esi: 20, outcome: 24, leaked: 28 } as const;

function isolationGuest(action: 'user-read-kernel' | 'user-write-own-code' | 'kernel-read-null'): { bytes: Uint8Array; symbols: Map<string, number> } {
  const kernelAction = action === 'kernel-read-null' ? 'mov eax, [0x10]' : '';
  const userAction = action === 'user-write-own-code' ? 'mov dword [u_marker], ebx' : 'mov ebx, [SECRET]';
  return assembleInline(`
    bits 32
    org 0x1000
    KCODE equ 0x08
    KDATA equ 0x10
    UCODE equ 0x1B
    UDATA equ 0x23
    TSS_SEL equ 0x28
    USER_CODE equ 0x3000
    USER_STACK equ 0x4000
    SECRET equ 0x6000
    VARS equ ${VARS}
    TSS equ VARS + 0x100
    IDT equ VARS + 0x200
    PD equ 0x20000
    PT equ 0x21000
    KSTACK_TOP equ 0x9000

    start:
      mov esp, KSTACK_TOP
      lgdt [gdt_ptr]
      jmp KCODE:.cs
    .cs:
      mov ax, KDATA
      mov ds, ax
      mov es, ax
      mov ss, ax
      mov dword [TSS + 4], KSTACK_TOP
      mov dword [TSS + 8], KDATA
      mov word [TSS + 102], 104
      mov ax, TSS_SEL
      ltr ax
      mov eax, pf_handler
      mov edi, IDT + 14 * 8
      mov bl, 0x8E
      call gate
      mov eax, sys_handler
      mov edi, IDT + 0x80 * 8
      mov bl, 0xEE
      call gate
      lidt [idt_ptr]
      mov dword [SECRET], 0x5EC2E7
      ; The first 4 MiB onto themselves: page 0 absent, the user task's code (read-only) and stack
      ; open to ring 3, everything else supervisor-only.
      mov edi, PT
      xor esi, esi
    .pte:
      mov eax, esi
      shl eax, 12
      or eax, 3
      test esi, esi
      jnz .present
      xor eax, eax
    .present:
      cmp esi, USER_CODE >> 12
      jne .not_code
      and eax, 0xFFFFFFFD
      or eax, 4
    .not_code:
      cmp esi, USER_STACK >> 12
      jne .not_stack
      or eax, 4
    .not_stack:
      stosd
      inc esi
      cmp esi, 1024
      jb .pte
      mov dword [PD], PT | 7
      mov eax, PD
      mov cr3, eax
      mov eax, cr0
      or eax, 0x80000000
      mov cr0, eax
      mov dword [u_marker], 0x600D      ; a read-only page: allowed in ring 0 while CR0.WP = 0
    kernel_action:
      ${kernelAction}
      mov ax, UDATA
      mov ds, ax
      mov es, ax
      push UDATA
      push USER_STACK + 0x1000
      push 2
      push UCODE
      push user_main
    to_user:
      iret

    gate:                                ; EAX handler, EDI the gate, BL its type
      mov [edi], ax
      mov word [edi + 2], KCODE
      mov byte [edi + 4], 0
      mov [edi + 5], bl
      shr eax, 16
      mov [edi + 6], ax
      ret

    pf_handler:
      mov ax, KDATA
      mov ds, ax
      pop eax
      mov [VARS + ${OUT.errorCode}], eax
      mov eax, cr2
      mov [VARS + ${OUT.cr2}], eax
      mov eax, [esp]
      mov [VARS + ${OUT.eip}], eax
      mov eax, [esp + 4]
      mov [VARS + ${OUT.cs}], eax
      mov eax, [esp + 16]
      mov [VARS + ${OUT.ss}], eax
      mov [VARS + ${OUT.esi}], esi
      mov dword [VARS + ${OUT.outcome}], 1
      jmp power_off

    sys_handler:
      mov ax, KDATA
      mov ds, ax
      mov [VARS + ${OUT.leaked}], ebx
      mov [VARS + ${OUT.esi}], esi
      mov dword [VARS + ${OUT.outcome}], 2
    power_off:
      mov dx, 0x501
      mov al, 0
      out dx, al
      hlt

    align 8
    gdt:
      dq 0
      dq 0x00CF9A000000FFFF
      dq 0x00CF92000000FFFF
      dq 0x00CFFA000000FFFF
      dq 0x00CFF2000000FFFF
      dw 103, TSS & 0xFFFF
      db (TSS >> 16) & 0xFF, 0x89
      db 0, TSS >> 24
    gdt_end:
    gdt_ptr:
      dw gdt_end - gdt - 1
      dd gdt
    idt_ptr:
      dw 0x81 * 8 - 1
      dd IDT

      times (USER_CODE - 0x1000) - ($ - $$) db 0
    user_main:
      mov esi, [u_marker]                ; its own page, which the kernel wrote
    user_action:
      ${userAction}
      mov eax, 1
      int 0x80
      jmp $
    u_marker: dd 0
  `);
}

function runIsolation(technique: SoftTechnique, kernelRing: SoftKernelRing, action: Parameters<typeof isolationGuest>[0]) {
  const g = isolationGuest(action);
  const vm = createSoftVm({ technique, image: g.bytes, org: 0x1000, kernelRing });
  const stop = vm.run(200_000);
  const out = Object.fromEntries(Object.entries(OUT).map(([k, off]) => [k, vm.cpu.mem.read32(VARS + off) >>> 0])) as Record<keyof typeof OUT, number>;
  return { vm, stop, out, sym: (name: string): number => g.symbols.get(name)! };
}

test('isolation: the user task\'s read of a kernel page is the guest\'s own #PF (P=1, W=0, U=1), in ring 3 as in ring 1', () => {
  for (const [technique, ring] of [['binary-translation', 3], ['trap-and-emulate', 1], ['binary-translation', 1]] as const) {
    const { vm, stop, out, sym } = runIsolation(technique, ring, 'user-read-kernel');
    const where = `${technique}, ring ${ring}`;
    assert.equal(stop.reason, 'shutdown', `${where}: ${stop.message}`);
    assert.equal(out.outcome, 1, `${where}: the #PF handler ran`);
    assert.equal(out.errorCode, 5, where);
    assert.equal(out.cr2, 0x6000, where);
    assert.equal(out.eip, sym('user_action'), where);
    assert.equal(out.cs, 0x1b, `${where}: the frame says user mode`);
    assert.equal(out.ss, 0x23, `${where}: the frame has the user stack (a stack switch)`);
    assert.equal(out.esi, 0x600d, `${where}: the kernel wrote the task's read-only page (CR0.WP = 0), the task read it`);
    assert.equal(out.leaked, 0, where);
    assert.equal(vm.holes.length, 0, where);
    assert.equal(count(vm, '#PF: reflected'), 1, where);
    if (ring === 3) assert.ok(vm.shadow.counters.switches >= 2, `${where}: to the user root and back`);
  }
});

test('isolation, ring 3: the kernel root\'s write rights do not reach the user task (P=1, W=1, U=1), and a kernel #PF has U=0', () => {
  {
    const { stop, out, sym } = runIsolation('binary-translation', 3, 'user-write-own-code');
    assert.equal(stop.reason, 'shutdown', stop.message);
    assert.equal(out.outcome, 1);
    assert.equal(out.errorCode, 7);
    assert.equal(out.cr2, sym('u_marker'));
    assert.equal(out.eip, sym('user_action'));
  }
  for (const technique of ['binary-translation', 'trap-and-emulate'] as const) {
    // The hardware's error code says U=1 (the kernel runs in ring 3); the guest's says what its ring 0 would.
    const { stop, out, sym } = runIsolation(technique, 3, 'kernel-read-null');
    assert.equal(stop.reason, 'shutdown', stop.message);
    assert.equal(out.outcome, 1, technique);
    assert.equal(out.errorCode, 0, technique);
    assert.equal(out.cr2, 0x10, technique);
    assert.equal(out.eip, sym('kernel_action'), technique);
    assert.equal(out.cs, 0x08, `${technique}: the kernel's CS, RPL 0 as the guest pushed it`);
  }
});

test('trap-and-emulate, ring 3: the kernel\'s IRET to user mode is a hole, and the user task reads the kernel\'s secret', () => {
  const { vm, stop, out, sym } = runIsolation('trap-and-emulate', 3, 'user-read-kernel');
  assert.equal(stop.reason, 'shutdown', stop.message);
  assert.deepEqual(vm.holes.map((h) => h.instruction), ['iret']);
  const h = vm.holes[0];
  assert.equal(h.rip, sym('to_user'));
  assert.match(h.saw, /a return within ring 3/);
  assert.match(h.saw, /ESP 0x00005000 and SS 0x0023 left on the kernel stack/);
  assert.match(h.expected, /a return to user mode/);
  assert.match(h.why, /does not trap in ring 3/);
  // The VMM never switched to the user root: the "user task" ran with the kernel's view and reached the secret.
  assert.equal(out.outcome, 2);
  assert.equal(out.leaked, 0x5ec2e7);
  assert.equal(vm.shadow.counters.switches, 0);
  assert.equal(count(vm, '#PF: reflected'), 0);
});

test('every ring and technique is deterministic: two runs give equal statistics, shadow counters, output and stop', () => {
  for (const technique of ['trap-and-emulate', 'binary-translation'] as const) {
    for (const ring of [1, 3] as const) {
      const a = boot(technique, ring), b = boot(technique, ring);
      const sa = a.run(BUDGET), sb = b.run(BUDGET);
      const where = `${technique}, ring ${ring}`;
      assert.deepEqual(sb, sa, where);
      assert.deepEqual(b.stats.report(), a.stats.report(), where);
      assert.deepEqual(b.shadow.counters, a.shadow.counters, where);
      assert.deepEqual(b.holes, a.holes, where);
      assert.equal(text(b), text(a), where);
    }
  }
});

test('kernelRing 3 is refused under paravirt, with the reason; other rings are refused', () => {
  assert.throws(() => createSoftVm({ technique: 'paravirt', image: kernelPv.bytes, org: 0x10000, kernelRing: 3 }),
    (e: unknown) => e instanceof RangeError && /kernelRing 3 is not available under paravirt/.test(e.message) && /ring 1 by its ABI/.test(e.message));
  assert.equal(createSoftVm({ technique: 'paravirt', image: kernelPv.bytes, org: 0x10000, kernelRing: 1 }).ring, 1);
  assert.throws(() => createSoftVm({ technique: 'binary-translation', image: kernel.bytes, kernelRing: 2 as SoftKernelRing }), (e: unknown) => e instanceof RangeError && /kernelRing must be 1 or 3 \(got 2\)/.test(e.message));
});

function assembleInline(source: string): { bytes: Uint8Array; symbols: Map<string, number> } {
  const r = assemble(source, { fileName: 'inline.asm' });
  assert.equal(r.ok, true, r.diagnostics.map((d) => `${d.line}: ${d.message}`).join('\n'));
  return { bytes: r.bytes, symbols: r.symbols };
}
