// One guest per implemented exit reason; expected fields are computed by hand from the SDM layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGuest, IDT } from './guest';

const SHUTDOWN = '  mov eax, 3\n  mov ebx, 0\n  vmcall\n';

test('CPUID exits unconditionally (reason 10), RIP at the instruction, length 2', () => {
  const g = runGuest(`  nop\n  mov eax, 1\n  cpuid\n${SHUTDOWN}`);
  const e = g.exits[0];
  assert.equal(e.reason, 10);
  assert.equal(e.name, 'CPUID');
  assert.equal(e.rip, 0x1006); // nop (1) + mov eax, imm32 (5)
  assert.equal(e.instructionLength, 2);
  assert.equal(e.qualification, 0);
  assert.equal(e.instructionInfo, 0);
  assert.equal(e.interruptionInfo, 0);
  assert.equal(e.idtVectoringInfo, 0);
  assert.match(e.why, /CPUID always exits/);
  assert.equal(g.vm.vcpus[0].vmcs.get('VM_EXIT_REASON'), 18); // the last exit is the shutdown VMCALL
});

test('HLT exiting on: reason 12, length 1, the VM stops as hlt with activity state HLT', () => {
  const g = runGuest('  cli\n  hlt\n');
  assert.equal(g.exits.length, 1);
  assert.equal(g.exits[0].reason, 12);
  assert.equal(g.exits[0].rip, 0x1001);
  assert.equal(g.exits[0].instructionLength, 1);
  assert.equal(g.stop.reason, 'hlt');
  assert.equal(g.vm.vcpus[0].vmcs.get('GUEST_ACTIVITY_STATE'), 1);
  assert.equal(g.vm.vcpus[0].vmcs.get('GUEST_RIP'), 0x1002); // the handler skipped the HLT
});

test('HLT exiting off: no exit, the guest halts natively', () => {
  const g = runGuest('  cli\n  hlt\n', (v) => v.setControl('primary', 'HLT_EXITING', false));
  assert.equal(g.exits.length, 0);
  assert.equal(g.stop.reason, 'hlt');
  assert.equal(g.stop.exits, 0);
});

test('INVD always exits (13); WBINVD exits (54) only with the secondary control', () => {
  const off = runGuest(`  invd\n  wbinvd\n${SHUTDOWN}`);
  assert.deepEqual(off.exits.map((e) => [e.reason, e.rip, e.instructionLength]), [[13, 0x1000, 2], [18, 0x1004 + 10, 3]]);
  const on = runGuest(`  invd\n  wbinvd\n${SHUTDOWN}`, (v) => v.setControl('secondary', 'WBINVD_EXITING', true));
  assert.deepEqual(on.exits.map((e) => [e.reason, e.rip, e.instructionLength]), [[13, 0x1000, 2], [54, 0x1002, 2], [18, 0x1004 + 10, 3]]);
});

test('INVLPG exiting: reason 14, qualification = linear address', () => {
  const g = runGuest(`  mov ebx, 0x5000\n  invlpg [ebx+0x123]\n${SHUTDOWN}`, (v) => v.setControl('primary', 'INVLPG_EXITING', true));
  const e = g.exits[0];
  assert.equal(e.reason, 14);
  assert.equal(e.qualification, 0x5123);
  assert.equal(e.instructionLength, 7); // 0F 01 BB disp32
  assert.equal(e.summary !== undefined, true);
  const off = runGuest(`  invlpg [0x5000]\n${SHUTDOWN}`);
  assert.deepEqual(off.exits.map((x) => x.reason), [18]);
});

test('RDPMC exiting (15) and RDTSC exiting (16); TSC offsetting otherwise', () => {
  const g = runGuest(`  xor ecx, ecx\n  rdpmc\n  rdtsc\n${SHUTDOWN}`, (v) => {
    v.setControl('primary', 'RDPMC_EXITING', true);
    v.setControl('primary', 'RDTSC_EXITING', true);
  });
  assert.deepEqual(g.exits.map((e) => [e.reason, e.rip, e.instructionLength]), [[15, 0x1002, 2], [16, 0x1004, 2], [18, 0x1006 + 10, 3]]);
  // Offsetting: TSC_OFFSET = 2^32 + 0x10 puts 1 in EDX and moves EAX by 0x10.
  const o = runGuest('  rdtsc\n  mov esi, eax\n  mov edi, edx\n  hlt\n', (v) => v.vmcs.set('TSC_OFFSET', 0x100000010n));
  const cpu = o.vm.machine.cpu;
  assert.equal(o.exits[0].reason, 12);
  assert.equal(cpu.r[7], 1);
  assert.equal(cpu.r[6] >>> 0, 0x10); // instruction count 0 when RDTSC ran
  const plain = runGuest('  rdtsc\n  mov esi, eax\n  mov edi, edx\n  hlt\n', (v) => { v.vmcs.set('TSC_OFFSET', 0x100000010n); v.setControl('primary', 'USE_TSC_OFFSETTING', false); });
  assert.equal(plain.vm.machine.cpu.r[7], 0);
  assert.equal(plain.vm.machine.cpu.r[6], 0);
});

test('VMX instructions exit (reasons 19-27) with instruction information; the handler reflects #UD', () => {
  const cases: [string, number, number, number, number][] = [
    // source, reason, length, instruction information, qualification
    ['vmxon [0x2000]', 27, 8, 0x08418080, 0x2000], // F3 0F C7 35 disp32: no base (bit 27), no index (bit 22), DS, 32-bit
    ['vmclear [ebx+8]', 19, 5, 0x01c18080, 8], // 66 0F C7 73 08: base EBX (3 << 23)
    ['vmptrld [esi+edi*4]', 21, 4, 0x031d8082, 0], // 0F C7 34 BE: scale 4 (2), index EDI (7 << 18), base ESI (6 << 23), DS
    ['vmptrst [ebp-4]', 22, 4, 0x02c10080, 0xfffffffc], // base EBP, default segment SS (2 << 15)
    ['vmread eax, ebx', 23, 3, 0x30000400, 0], // register form: bit 10, reg1 EAX, reg2 EBX in 31:28
    ['vmwrite ecx, edx', 25, 3, 0x10000410, 0], // reg1 = r/m EDX (2 << 3), reg2 = ECX
    ['vmlaunch', 20, 3, 0, 0],
    ['vmresume', 24, 3, 0, 0],
    ['vmxoff', 26, 3, 0, 0],
  ];
  for (const [src, reason, length, info, qual] of cases) {
    const g = runGuest(`  call setup_idt\n  ${src}\n${IDT}`);
    const e = g.exits[0];
    assert.equal(e.reason, reason, src);
    assert.equal(e.instructionLength, length, src);
    assert.equal(e.instructionInfo, info, `${src}: info 0x${e.instructionInfo.toString(16)}`);
    assert.equal(e.qualification, qual, src);
    assert.equal(g.entries[1], 0x80000306, `${src}: #UD injected`);
    assert.equal(g.stop.code, 0x106, src);
  }
});

test('VMCALL (18): length 3, no qualification', () => {
  const g = runGuest(SHUTDOWN);
  assert.equal(g.exits[0].reason, 18);
  assert.equal(g.exits[0].rip, 0x100a);
  assert.equal(g.exits[0].instructionLength, 3);
  assert.equal(g.exits[0].qualification, 0);
});

test('MOV DR exiting: reason 29 with the SDM qualification; the CPU then completes the access', () => {
  const g = runGuest(`  mov ecx, 0x1234\n  mov dr3, ecx\n  mov edx, dr6\n${SHUTDOWN}`, (v) => v.setControl('primary', 'MOV_DR_EXITING', true));
  assert.deepEqual(g.exits.slice(0, 2).map((e) => [e.reason, e.qualification, e.instructionLength]), [[29, 0x103, 3], [29, 0x216, 3]]);
  assert.equal(g.vm.machine.cpu.dr[3], 0x1234);
  assert.equal(g.vm.machine.cpu.r[2] >>> 0, 0xffff0ff0);
  const off = runGuest(`  mov dr3, ecx\n${SHUTDOWN}`);
  assert.deepEqual(off.exits.map((e) => e.reason), [18]);
});

test('I/O instruction exits (30): qualification bits, string I/O linear address and instruction information', () => {
  const g = runGuest(`  in al, 0x60\n  mov dx, 0x3f8\n  mov al, 'A'\n  out dx, al\n  out 0x80, eax\n  mov esi, text\n  mov ecx, 2\n  mov dx, 0xe9\n  rep outsb\n${SHUTDOWN}text: db 'hi'\n`);
  const io = g.exits.filter((e) => e.reason === 30);
  assert.deepEqual(io.map((e) => e.qualification), [0x00600048, 0x03f80000, 0x00800043, 0x00e90030]);
  assert.deepEqual(io.map((e) => e.instructionLength), [2, 1, 2, 2]);
  assert.equal(io[3].guestLinearAddress, g.vm.machine.cpu.r[6] - 2); // ESI before the string was sent
  assert.equal(io[3].instructionInfo, 0x18080); // 32-bit addressing (1 << 7), DS (3 << 15)
  assert.equal(io[0].why, 'I/O bitmap A bit 0x60 set');
  assert.equal(io[1].summary, 'OUT DX, AL → port 0x3F8, 1 byte');
  assert.deepEqual(g.vm.machine.console.e9, [0x68, 0x69]);
  // COM1 is the platform's UART (its output is VM output); the string OUTs to 0xE9 were carried out by the CPU.
  assert.deepEqual(g.vm.output, [0x41]);
});

test('RDMSR/WRMSR exits (31/32): bitmap ranges, outside MSRs, bitmaps off', () => {
  const src = `  call setup_idt
  mov ecx, 0x174
  rdmsr
  mov ecx, 0xc0000080
  rdmsr
  mov ecx, 0x174
  mov eax, 0x10
  xor edx, edx
  wrmsr
  mov ecx, 0x277
  wrmsr
  mov ecx, 0x2000
  rdmsr
${IDT}`;
  const g = runGuest(src, (v) => {
    v.msrBitmap.set(0xc0000080, false); // read bitmap for high MSRs
    v.msrBitmap.set(0x174, true); // write bitmap for low MSRs
  });
  // 0xC0000080 read: byte 1024 + 0x80/8 = 1040, bit 0; 0x174 write: byte 2048 + 0x2E = 2094, bit 4.
  assert.equal(g.vm.vcpus[0].msrBitmap.page[1040], 0x01);
  assert.equal(g.vm.vcpus[0].msrBitmap.page[2094], 0x10);
  const m = g.exits.filter((e) => e.reason === 31 || e.reason === 32);
  assert.deepEqual(m.map((e) => [e.reason, e.instructionLength, e.qualification]), [[31, 2, 0], [32, 2, 0], [31, 2, 0]]);
  assert.equal(m[0].why, 'MSR bitmap read bitmap for high MSRs bit 0x80 set (byte 0x410 bit 0)');
  assert.equal(m[1].why, 'MSR bitmap write bitmap for low MSRs bit 0x174 set (byte 0x82E bit 4)');
  assert.equal(m[2].why, 'MSR 0x2000 outside 0-0x1FFF and 0xC0000000-0xC0001FFF (always exits)');
  // The write went through the handler; 0x2000 does not exist, so the handler injected #GP(0).
  assert.equal(g.vm.machine.msrs.read(0x174), 0x10n);
  assert.equal(g.stop.code, 0x10d);
  assert.deepEqual(g.vm.stats.report().msrs.map((k) => k.key), ['0x174 write', '0x2000 read', '0xC0000080 read']);
  const off = runGuest(`  mov ecx, 0x174\n  rdmsr\n${SHUTDOWN}`, (v) => v.setControl('primary', 'USE_MSR_BITMAPS', false));
  assert.deepEqual(off.exits.map((e) => e.reason), [31, 18]);
  assert.match(off.exits[0].why, /use MSR bitmaps.*clear/);
});

test('MONITOR (39), MWAIT (36), PAUSE (40), XSETBV (55)', () => {
  const g = runGuest(`  monitor\n  mwait\n  pause\n  xor ecx, ecx\n  xor edx, edx\n  mov eax, 1\n  xsetbv\n${SHUTDOWN}`, (v) => {
    for (const c of ['MONITOR_EXITING', 'MWAIT_EXITING', 'PAUSE_EXITING']) v.setControl('primary', c, true);
  });
  assert.deepEqual(g.exits.map((e) => [e.reason, e.rip, e.instructionLength]),
    [[39, 0x1000, 3], [36, 0x1003, 3], [40, 0x1006, 2], [55, 0x1011, 3], [18, 0x1014 + 10, 3]]);
  assert.equal(g.stop.reason, 'shutdown');
});

test('descriptor-table exiting: GDTR/IDTR (46) and LDTR/TR (47) with instruction information', () => {
  const g = runGuest(`  mov ebx, 0x2000\n  sgdt [ebx+8]\n  sidt [0x3000]\n  str cx\n  sldt [edi]\n${SHUTDOWN}`, (v) => v.setControl('secondary', 'DESC_EXITING', true));
  const d = g.exits.filter((e) => e.reason === 46 || e.reason === 47);
  assert.deepEqual(d.map((e) => [e.reason, e.qualification, e.instructionInfo]), [
    [46, 8, 0x01c18880], // base EBX, no index, DS, 32-bit address and operand size, SGDT (0)
    [46, 0x3000, 0x18418880], // no base, no index, SIDT (1 << 28)
    [47, 0, 0x10000408], // register operand ECX (1 << 3, bit 10), STR (1 << 28)
    [47, 0, 0x03c18080], // [edi]: base EDI (7 << 23), no index, DS, SLDT (0)
  ]);
  // The handler lets the CPU complete the instruction: SGDT stored limit 0x17, base 0x500.
  assert.equal(g.vm.machine.memory.read16(0x2008), 0x17);
  assert.equal(g.vm.machine.memory.read32(0x200a), 0x500);
  const off = runGuest(`  sgdt [0x2000]\n${SHUTDOWN}`);
  assert.deepEqual(off.exits.map((e) => e.reason), [18]);
});

test('exception exits (0): interruption information, error code, software exceptions', () => {
  const g = runGuest(`  call setup_idt\n  mov ax, 0x33\n  mov ds, ax\n${IDT}`, (v) => v.vmcs.set('EXCEPTION_BITMAP', 1 << 13));
  const e = g.exits[0];
  assert.equal(e.reason, 0);
  assert.equal(e.interruptionInfo, 0x80000b0d); // valid, error code valid, hardware exception, vector 13
  assert.equal(e.interruptionErrorCode, 0x30);
  assert.equal(e.instructionLength, 0);
  assert.equal(g.entries[1], 0x80000b0d); // reflected with the same information
  assert.equal(g.stop.code, 0x10d);
  const b = runGuest(`  call setup_idt\n  int3\n${IDT}`, (v) => v.vmcs.set('EXCEPTION_BITMAP', 1 << 3));
  const s = b.exits[0];
  assert.equal(s.interruptionInfo, 0x80000603); // software exception, vector 3
  assert.equal(s.instructionLength, 1);
  assert.equal(s.rip, 0x1005); // the INT3 itself
  assert.equal(b.stop.code, 0x103);
  const n = runGuest(`  call setup_idt\n  int 0x13\n${IDT}`, (v) => v.vmcs.set('EXCEPTION_BITMAP', 0xffffffff));
  assert.equal(n.exits[0].reason, 18); // INT n is not subject to the exception bitmap
  assert.equal(n.stop.code, 0x113);
});

test('IDT-vectoring information: a #NP while delivering #UD', () => {
  // The #UD gate loses its present bit, so delivering #UD raises #NP(6*8+2+1).
  const g = runGuest(`  call setup_idt\n  mov word [0x3000+6*8+4], 0x0E00\n  ud2\n${IDT}`, (v) => v.vmcs.set('EXCEPTION_BITMAP', 1 << 11));
  const e = g.exits[0];
  assert.equal(e.interruptionInfo, 0x80000b0b);
  assert.equal(e.interruptionErrorCode, 0x33);
  assert.equal(e.idtVectoringInfo, 0x80000306);
  assert.equal(e.idtVectoringErrorCode, 0);
});

test('triple fault (2): the reflected #UD cannot be delivered with IDTR limit 0; the VM stops', () => {
  const g = runGuest('  ud2\n');
  assert.deepEqual(g.exits.map((e) => e.reason), [0, 2]);
  assert.equal(g.exits[1].name, 'TRIPLE_FAULT');
  assert.equal(g.exits[1].qualification, 0);
  assert.equal(g.stop.reason, 'triple-fault');
  // IDT error codes are vector*8 + 2 (IDT) + 1 (external event): #UD 0x33, #GP 0x6B, #DF 0x43.
  assert.match(g.stop.message, /triple fault: #UD -> #GP\(0x33\) -> #GP\(0x6b\) -> #DF\(0x0\) -> #GP\(0x43\)/);
});

test('RDTSCP exits as reason 51 when RDTSC exiting is on and RDTSCP is enabled; otherwise offset applies', () => {
  const g = runGuest(`  rdtscp\n${SHUTDOWN}`, (v) => v.setControl('primary', 'RDTSC_EXITING', true));
  assert.deepEqual(g.exits.map((e) => [e.reason, e.instructionLength]), [[51, 3], [18, 3]]);
  const o = runGuest('  rdtscp\n  hlt\n', (v) => v.vmcs.set('TSC_OFFSET', 0x300000000n));
  assert.equal(o.exits[0].reason, 12);
  assert.equal(o.vm.machine.cpu.r[2], 3);
  assert.equal(o.vm.machine.cpu.r[0], 0);
});

test('INVEPT (50) and INVVPID (53) exit unconditionally', () => {
  const cases: [string, number, number, number][] = [
    ['invept eax, [ebx]', 50, 5, 0x01c18080], // 66 0F 38 80 03: base EBX, reg2 EAX (0)
    ['invvpid ecx, [0x2000]', 53, 9, 0x18418080], // reg2 ECX (1 << 28), no base/index
  ];
  for (const [src, reason, length, info] of cases) {
    const g = runGuest(`  call setup_idt\n  ${src}\n${IDT}`);
    assert.deepEqual([g.exits[0].reason, g.exits[0].instructionLength, g.exits[0].instructionInfo], [reason, length, info], src);
    assert.equal(g.stop.code, 0x106, `${src}: #UD reflected`);
  }
});

test('XSETBV: the handler loads XCR0 from EDX:EAX for ECX = 0', () => {
  const g = runGuest(`  xor ecx, ecx\n  xor edx, edx\n  mov eax, 3\n  xsetbv\n${SHUTDOWN}`);
  assert.equal(g.exits[0].reason, 55);
  assert.equal(g.vm.machine.cpu.xcr0, 3);
});

test('a VM that shut down reports the same stop on later runs', () => {
  const g = runGuest('  mov eax, 3\n  mov ebx, 9\n  vmcall\n  nop\n');
  const again = g.vm.run(100);
  assert.deepEqual([again.reason, again.code, again.instructions, again.exits], ['shutdown', 9, 0, 0]);
});
