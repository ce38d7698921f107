// The VM around the vCPU: hypercall ABI, CPUID, guest-state save/load, statistics, events, determinism.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGuest, build } from './guest';
import { Machine } from '../../../src/x86/machine';
import { Vmcs } from '../../../src/vmm/vmx';
import { createVm, saveGuestState, loadGuestState, packSignature, type VmExit } from '../../../src/vmm/vtx/index';

test('hypercall 0 writes guest memory to the output and returns the length; unknown numbers return -1000', () => {
  const g = runGuest(`  mov eax, 0
  mov ebx, msg
  mov ecx, 5
  vmcall
  mov esi, eax
  mov eax, 99
  vmcall
  mov edi, eax
  mov eax, 0
  mov ecx, 5000
  vmcall
  mov ebp, eax
  mov eax, 1
  vmcall
  mov eax, 3
  mov ebx, -2
  vmcall
msg: db 'hello'
`);
  assert.equal(String.fromCharCode(...g.vm.output), 'hello');
  const c = g.vm.machine.cpu;
  assert.equal(c.r[6], 5);
  assert.equal(c.r[7] >>> 0, 0xfffffc18); // -1000 (-KVM_ENOSYS)
  assert.equal(c.r[5] >>> 0, 0xffffffea); // -22 (-KVM_EINVAL): longer than 4096 bytes
  assert.equal(c.r[0], 0); // yield, then shutdown, return 0
  assert.equal(g.stop.reason, 'shutdown');
  assert.equal(g.stop.code, -2);
  assert.equal(g.stop.message, 'guest shut down with code -2');
});

test('hypercall 2 returns the guest TSC in EDX:EAX, including TSC_OFFSET', () => {
  // EAX already holds 2 when the guest starts, so VMCALL is the first instruction and the TSC is 0 + offset.
  const g = runGuest('  vmcall\n  hlt\n', (v) => { v.vmcs.set('TSC_OFFSET', 0x0000000500000010n); v.cpu.r[0] = 2; });
  assert.equal(g.vm.machine.cpu.r[0], 0x10);
  assert.equal(g.vm.machine.cpu.r[2], 5);
});

test('output events carry the bytes and their source', () => {
  const vm = createVm({ image: build(`  mov al, 'k'\n  out 0xe9, al\n  mov eax, 0\n  mov ebx, m\n  mov ecx, 1\n  vmcall\n  hlt\nm: db 'z'\n`) });
  const seen: string[] = [];
  vm.events.on('output', (o) => seen.push(`${o.source}:${o.text}`));
  vm.run(100);
  assert.deepEqual(seen, ['port E9h:k', 'hypercall:z']);
});

test('CPUID: hypervisor leaf 0x40000000 says "Hyperstep", leaf 1 ECX bit 31, configured leaves', () => {
  const g = runGuest(`  mov eax, 0x40000000
  cpuid
  mov [0x2000], eax
  mov [0x2004], ebx
  mov [0x2008], ecx
  mov [0x200c], edx
  mov eax, 1
  cpuid
  mov [0x2010], ecx
  mov eax, 7
  cpuid
  mov [0x2014], ebx
  hlt
`, undefined, { cpuid: { 7: { eax: 0, ebx: 0x12345678, ecx: 0, edx: 0 } } });
  const m = g.vm.machine.memory;
  assert.equal(m.read32(0x2000), 0x40000001);
  assert.equal(m.read32(0x2004), 0x65707948); // "Hype"
  assert.equal(m.read32(0x2008), 0x65747372); // "rste"
  assert.equal(m.read32(0x200c), 0x00000070); // "p"
  assert.equal(m.read32(0x2010) >>> 0, 0x80000000);
  assert.equal(m.read32(0x2014), 0x12345678);
  assert.deepEqual(packSignature('KVMKVMKVM'), [0x4b4d564b, 0x564b4d56, 0x0000004d]); // KVM's well-known signature words
  assert.deepEqual(g.vm.stats.report().cpuidLeaves.map((k) => [k.key, k.count]), [['0x1', 1], ['0x40000000', 1], ['0x7', 1]]);
});

test('guest state: flat32 values in the VMCS, and save/load round trip', () => {
  const vm = createVm({ image: build('  hlt\n') });
  const v = vm.vcpus[0].vmcs;
  assert.equal(v.get('GUEST_CS_SELECTOR'), 0x08);
  assert.equal(v.get('GUEST_CS_AR_BYTES'), 0xc09b);
  assert.equal(v.get('GUEST_CS_LIMIT'), 0xffffffff);
  assert.equal(v.get('GUEST_SS_AR_BYTES'), 0xc093);
  assert.equal(v.get('GUEST_TR_AR_BYTES'), 0x8b);
  assert.equal(v.get('GUEST_GDTR_BASE'), 0x500);
  assert.equal(v.get('GUEST_GDTR_LIMIT'), 0x17);
  assert.equal(v.get('GUEST_CR0'), 0x60000011);
  assert.equal(v.get('GUEST_RIP'), 0x1000);
  assert.equal(v.get('GUEST_RFLAGS'), 0x2);
  assert.equal(v.get('GUEST_RSP'), 0x80000);
  assert.equal(v.getBig('VMCS_LINK_POINTER'), 0xffffffffffffffffn);
  assert.equal((v.get('CPU_BASED_VM_EXEC_CONTROL') & 0x92000088) >>> 0, 0x92000088); // HLT 7, TSC offsetting 3, I/O bitmaps 25, MSR bitmaps 28, secondary 31
  assert.equal(v.get('SECONDARY_VM_EXEC_CONTROL'), 0xaa); // EPT 1, RDTSCP 3, VPID 5, unrestricted guest 7
  assert.equal(v.get('VIRTUAL_PROCESSOR_ID'), 1);

  const a = new Machine();
  a.loadBootSector(build('  hlt\n', 16, 0x7c00));
  const c = a.cpu;
  c.r.set([1, 2, 3, 4, 0x7000, 6, 7, 8]);
  c.eflags = 0x246;
  c.seg[4].set(0x1234, 0x12340, 0xffff, 0x93);
  c.cr3 = 0x5000;
  c.dr[7] = 0x401;
  c.shadow = true;
  const vmcs = new Vmcs();
  saveGuestState(c, vmcs);
  assert.equal(vmcs.get('GUEST_FS_SELECTOR'), 0x1234);
  assert.equal(vmcs.get('GUEST_FS_BASE'), 0x12340);
  assert.equal(vmcs.get('GUEST_CS_AR_BYTES'), 0x9b);
  assert.equal(vmcs.get('GUEST_RIP'), 0x7c00);
  assert.equal(vmcs.get('GUEST_RFLAGS'), 0x246);
  assert.equal(vmcs.get('GUEST_DR7'), 0x401);
  assert.equal(vmcs.get('GUEST_INTERRUPTIBILITY_INFO'), 1); // blocking by STI
  const b = new Machine();
  b.loadFlat32(build('  hlt\n'), 0x1000);
  loadGuestState(b.cpu, vmcs);
  const strip = (s: ReturnType<Machine['snapshot']>['cpu']) => ({ ...s, regs: s.regs.map((r, i) => (i === 4 ? r : 0)), icount: 0, tscOffset: '0' });
  assert.deepEqual(strip(b.snapshot().cpu), strip(a.snapshot().cpu));
  assert.equal(b.cpu.mode, 'real');
});

test('real-mode guest (unrestricted guest): exits report real-mode state', () => {
  const g = runGuest('  mov dx, 0xe9\n  mov al, 0x41\n  out dx, al\n  cli\n  hlt\n', undefined, { mode: 'real' });
  assert.deepEqual(g.exits.map((e) => [e.reason, e.rip]), [[30, 0x7c05], [12, 0x7c07]]);
  assert.equal(g.exits[0].instructionLength, 1);
  assert.equal(g.vm.vcpus[0].vmcs.get('GUEST_CS_AR_BYTES'), 0x9b);
  assert.equal(g.vm.vcpus[0].vmcs.get('GUEST_CR0') & 1, 0);
  assert.deepEqual(g.vm.machine.console.e9, [0x41]);
});

test('statistics per reason with shares, and per I/O port', () => {
  const g = runGuest(`  mov ecx, 3
.l:
  mov dx, 0x3f8
  mov al, 'a'
  out dx, al
  out 0x80, al
  loop .l
  in al, 0x60
  cpuid
  cli
  hlt
`);
  const r = g.vm.stats.report();
  assert.equal(r.total, 9);
  assert.deepEqual(r.reasons.map((x) => [x.name, x.count, x.share]), [['IO_INSTRUCTION', 7, 7 / 9], ['CPUID', 1, 1 / 9], ['HLT', 1, 1 / 9]]);
  assert.deepEqual(r.ioPorts.map((x) => [x.key, x.count]), [['0x3F8 out', 3], ['0x80 out', 3], ['0x60 in', 1]]);
});

test('a cost model adds cycles per reason', () => {
  const vm = createVm({ image: build('  cpuid\n  cpuid\n  hlt\n'), costModel: { cyclesFor: (e) => (e.reason === 10 ? 100 : 7) } });
  vm.run(100);
  assert.deepEqual(vm.stats.report().reasons.map((x) => [x.name, x.cycles]), [['CPUID', 200], ['HLT', 7]]);
});

test('entry and stop events; run continues after a limit stop', () => {
  const vm = createVm({ image: build('  cpuid\n  nop\n  nop\n  cpuid\n  hlt\n') });
  const events: string[] = [];
  vm.events.on('entry', (e) => events.push(`entry ${e.rip.toString(16)}`));
  vm.events.on('exit', (e) => events.push(`exit ${e.name}`));
  vm.events.on('stop', (s) => events.push(`stop ${s.reason}`));
  assert.equal(vm.run(2).reason, 'limit');
  assert.equal(vm.run(100).reason, 'hlt');
  assert.deepEqual(events, ['entry 1000', 'exit CPUID', 'entry 1002', 'stop limit', 'exit CPUID', 'entry 1006', 'exit HLT', 'entry 1007', 'stop hlt']);
});

test('determinism: the same guest gives the same exit trace twice', () => {
  const src = `  mov esi, 50
.l:
  rdtsc
  out 0x80, al
  mov eax, esi
  cpuid
  dec esi
  jnz .l
  mov eax, 2
  vmcall
  hlt
`;
  const trace = (): VmExit[] => runGuest(src, (v) => v.setControl('primary', 'RDTSC_EXITING', true)).exits;
  const a = trace(), b = trace();
  assert.equal(a.length, 50 * 3 + 2);
  assert.deepEqual(a, b);
});

test('handlers can be replaced per reason; an exit without a handler stops the VM', () => {
  const seen: number[] = [];
  const g = runGuest('  cpuid\n  hlt\n', undefined, {
    handlers: {
      10: (vcpu) => { seen.push(vcpu.vmcs.get('VM_EXIT_INSTRUCTION_LEN')); vcpu.cpu.r[0] = 0x1234; vcpu.skipInstruction(); return { kind: 'resume' }; },
      12: undefined,
    },
  });
  assert.deepEqual(seen, [2]);
  assert.equal(g.vm.machine.cpu.r[0], 0x1234);
  assert.equal(g.stop.reason, 'unhandled-exit');
  assert.equal(g.stop.message, 'no handler for exit 12 (HLT)');
});
