// Execution controls that decide exits: CR masks and shadows, CR3 targets, I/O bitmaps, #PF filtering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGuest, IDT } from './guest';
import { IoBitmaps } from '../../../src/vmm/vtx/index';

const SHUTDOWN = '  mov eax, 3\n  mov ebx, 0\n  vmcall\n';

test('CR0 reads return the read shadow for owned bits and never exit', () => {
  // Real CR0 = 0x60000011 (flat32); mask 0xE0000003; shadow 0x00000013 hides CD and NW and shows MP.
  const g = runGuest(`  mov eax, cr0\n  mov esi, eax\n  smsw edi\n  mov word [0x2000], 0xffff\n  smsw [0x2000]\n${SHUTDOWN}`, (v) => {
    v.vmcs.set('CR0_GUEST_HOST_MASK', 0xe0000003);
    v.vmcs.set('CR0_READ_SHADOW', 0x13);
  });
  assert.deepEqual(g.exits.map((e) => e.reason), [18]);
  // Owned MP comes from the shadow (set) although the real CR0 has it clear.
  assert.equal(g.vm.machine.memory.read16(0x2000), 0x0013);
  assert.equal(g.vm.machine.cpu.r[6] >>> 0, 0x00000013);
  assert.equal(g.vm.machine.cpu.r[7] >>> 0, 0x00000013);
  assert.equal(g.vm.machine.cpu.cr0 >>> 0, 0x60000011);
});

test('a CR0 write that changes an owned bit against the shadow exits (28) with the SDM qualification', () => {
  const g = runGuest(`  mov ebx, 0x00000011\n  mov cr0, ebx\n  mov ecx, cr0\n${SHUTDOWN}`);
  const e = g.exits[0];
  assert.equal(e.reason, 28);
  assert.equal(e.qualification, 0x300); // CR0, MOV to CR, EBX in bits 11:8
  assert.equal(e.instructionLength, 3);
  assert.equal(e.summary, 'MOV CR0, EBX');
  assert.equal(e.why, 'CR0 guest/host mask owns bit 29 (NW), bit 30 (CD); the write changes it against the read shadow 0x60000011');
  // The handler wrote both the real CR0 and the shadow.
  assert.equal(g.vm.machine.cpu.cr0 >>> 0, 0x11);
  assert.equal(g.vm.vcpus[0].vmcs.get('CR0_READ_SHADOW'), 0x11);
  assert.equal(g.vm.machine.cpu.r[1] >>> 0, 0x11);
});

test('a CR0 write that touches only guest-owned bits does not exit and keeps the owned bits', () => {
  const g = runGuest(`  mov ebx, cr0\n  or ebx, 0x8\n  mov cr0, ebx\n${SHUTDOWN}`);
  assert.deepEqual(g.exits.map((e) => e.reason), [18]);
  assert.equal(g.vm.machine.cpu.cr0 >>> 0, 0x60000019);
});

test('LMSW with a memory operand: qualification bit 6, source data and the guest-linear address', () => {
  const g = runGuest(`  mov word [0x2400], 0x000b\n  lmsw [0x2400]\n${SHUTDOWN}`, (v) => v.vmcs.set('CR0_GUEST_HOST_MASK', 0x0000000f));
  const e = g.exits[0];
  assert.equal(e.reason, 28);
  assert.equal(e.qualification, 0x000b0070); // LMSW (3 << 4), memory operand (bit 6), source 0x000B
  assert.equal(e.guestLinearAddress, 0x2400);
  assert.equal(g.vm.machine.cpu.cr0 >>> 0, 0x6000001b); // MP and TS set; PE kept
});

test('CLTS exits when TS is owned and set in the shadow; LMSW exits on owned MP/EM/TS changes', () => {
  const g = runGuest(`  clts\n  mov ax, 0x000f\n  lmsw ax\n${SHUTDOWN}`, (v) => {
    v.vmcs.set('CR0_GUEST_HOST_MASK', 0x0000000f);
    v.vmcs.set('CR0_READ_SHADOW', 0x60000019);
  });
  assert.deepEqual(g.exits.map((e) => [e.reason, e.qualification, e.instructionLength]), [
    [28, 0x20, 2], // CLTS: access type 2
    [28, 0x000f0030, 3], // LMSW register: type 3, source data 0x000F in 31:16
    [18, 0, 3],
  ]);
  assert.equal(g.exits[1].summary, 'LMSW register operand, source 0xF');
  // CLTS cleared TS; LMSW then set MP, EM, TS (PE stays 1).
  assert.equal(g.vm.vcpus[0].vmcs.get('CR0_READ_SHADOW'), 0x6000001f);
  assert.equal(g.vm.machine.cpu.cr0 >>> 0, 0x6000001f);
});

test('CR4.VMXE is owned with shadow 0: writing it exits and the handler injects #GP(0)', () => {
  const g = runGuest(`  call setup_idt\n  mov eax, cr4\n  or eax, 0x2000\n  mov cr4, eax\n${IDT}`);
  assert.equal(g.exits[0].reason, 28);
  assert.equal(g.exits[0].qualification, 0x4); // CR4, MOV to CR, EAX
  assert.match(g.exits[0].why, /CR4 guest\/host mask owns bit 13 \(VMXE\)/);
  assert.equal(g.entries[1], 0x80000b0d);
  assert.equal(g.stop.code, 0x10d);
});

test('CR3-load exiting honours the CR3-target values; CR3-store exiting', () => {
  const src = `  mov edx, 0x9000\n  mov cr3, edx\n  mov edx, 0xa000\n  mov cr3, edx\n  mov esi, cr3\n${SHUTDOWN}`;
  const g = runGuest(src, (v) => {
    v.setControl('primary', 'CR3_LOAD_EXITING', true);
    v.setControl('primary', 'CR3_STORE_EXITING', true);
    v.vmcs.set('CR3_TARGET_COUNT', 1);
    v.vmcs.set('CR3_TARGET_VALUE0', 0x9000);
  });
  assert.deepEqual(g.exits.map((e) => [e.reason, e.qualification, e.rip]), [
    [28, 0x203, 0x100d], // the second MOV to CR3 from EDX (mov edx, imm32 is 5 bytes); 0x9000 is a target value
    [28, 0x613, 0x1010], // MOV from CR3 to ESI: type 1 (bit 4)
    [18, 0, 0x101d],
  ]);
  assert.equal(g.exits[0].why, 'CR3-load exiting (primary control bit 15) is set and 0xA000 is none of the 1 CR3-target values');
  assert.equal(g.vm.machine.cpu.r[6] >>> 0, 0xa000);
});

test('I/O bitmaps: bit clear means no exit; bits of every byte of a wide access count; bitmap B', () => {
  const src = `  mov dx, 0x3f8\n  mov al, 'x'\n  out dx, al\n  mov dx, 0x3f7\n  out dx, ax\n  mov dx, 0x8001\n  in al, dx\n${SHUTDOWN}`;
  const g = runGuest(src, (v) => {
    v.ioBitmaps.a.fill(0);
    v.ioBitmaps.b.fill(0);
    v.ioBitmaps.set(0x3f8);
    v.ioBitmaps.set(0x8001);
    v.ioBitmaps.set(0x3f8, false);
  });
  // 0x3F8 set then cleared: OUT DX, AL passes; OUT DX, AX at 0x3F7 touches 0x3F7-0x3F8, both clear; 0x8001 is in bitmap B.
  assert.deepEqual(g.exits.map((e) => [e.reason, e.why]), [[30, 'I/O bitmap B bit 0x8001 set'], [18, 'VMCALL always exits in VMX non-root operation']]);
  // COM1 is the platform's UART: the byte that passed without an exit is VM output from it.
  assert.deepEqual(g.vm.output, [0x78]);
  const w = runGuest(`  mov dx, 0x3f7\n  out dx, ax\n${SHUTDOWN}`, (v) => { v.ioBitmaps.a.fill(0); v.ioBitmaps.set(0x3f8); });
  assert.equal(w.exits[0].why, 'I/O bitmap A bit 0x3F8 set');
  assert.equal(w.exits[0].qualification, 0x03f70001);
});

test('I/O bitmap bytes: port 0x3F8 is byte 0x7F bit 0 of A, port 0x8001 byte 0 bit 1 of B', () => {
  const b = new IoBitmaps();
  b.set(0x3f8);
  b.set(0x8001);
  assert.equal(b.a[0x7f], 0x01);
  assert.equal(b.b[0], 0x02);
  assert.equal(b.check(0xffff, 2), 'access wraps past port 0xFFFF (2 bytes at 0xFFFF)');
});

test('unconditional I/O exiting applies only when I/O bitmaps are off', () => {
  const src = `  mov al, 1\n  out 0x80, al\n${SHUTDOWN}`;
  const uncond = runGuest(src, (v) => { v.setControl('primary', 'USE_IO_BITMAPS', false); v.setControl('primary', 'UNCOND_IO_EXITING', true); });
  assert.deepEqual(uncond.exits.map((e) => e.reason), [30, 18]);
  assert.equal(uncond.exits[0].why, 'unconditional I/O exiting (primary control bit 24) is set');
  const none = runGuest(src, (v) => v.setControl('primary', 'USE_IO_BITMAPS', false));
  assert.deepEqual(none.exits.map((e) => e.reason), [18]);
  assert.deepEqual(none.vm.machine.console.post, [1]);
  const bitmapsWin = runGuest(src, (v) => { v.setControl('primary', 'UNCOND_IO_EXITING', true); v.ioBitmaps.a.fill(0); });
  assert.deepEqual(bitmapsWin.exits.map((e) => e.reason), [18]);
});

// Paging with one 4 MiB identity page: a write to 0x400000 is a not-present #PF with error code 2.
const PAGING = `  call setup_idt
  mov dword [0x8000], 0x83
  mov eax, 0x8000
  mov cr3, eax
  mov eax, cr4
  or eax, 0x10
  mov cr4, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  mov dword [0x400000], 1
${IDT}`;

test('#PF filtering by exception bitmap bit 14 with error-code mask and match', () => {
  const cases: [string, number, number, number, boolean][] = [
    // name, bit 14, mask, match, exits
    ['bit set, mask 0 = match 0', 1, 0, 0, true],
    ['bit set, W masked 2 ≠ match 0', 1, 2, 0, false],
    ['bit clear, W masked 2 ≠ match 0', 0, 2, 0, true],
    ['bit clear, mask 0 = match 0', 0, 0, 0, false],
    ['bit set, W masked 2 = match 2', 1, 2, 2, true],
  ];
  for (const [name, bit, mask, match, exits] of cases) {
    const g = runGuest(PAGING, (v) => {
      v.vmcs.set('EXCEPTION_BITMAP', bit << 14);
      v.vmcs.set('PAGE_FAULT_ERROR_CODE_MASK', mask);
      v.vmcs.set('PAGE_FAULT_ERROR_CODE_MATCH', match);
    });
    const pf = g.exits.filter((e) => e.reason === 0);
    assert.equal(pf.length, exits ? 1 : 0, name);
    assert.equal(g.stop.code, 0x10e, `${name}: the guest's #PF handler ran`);
    if (exits) {
      assert.equal(pf[0].interruptionInfo, 0x80000b0e, name);
      assert.equal(pf[0].interruptionErrorCode, 2, name);
      assert.equal(pf[0].qualification, 0x400000, name);
      assert.equal(g.vm.machine.cpu.cr2 >>> 0, 0x400000, name);
    }
  }
});
