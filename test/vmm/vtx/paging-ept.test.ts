// EPT mode of the VM: the tables under the vCPU, on-demand mapping, the
// EPT-violation qualification for every kind of access, the reports for
// accesses outside RAM, and the entry checks that tie EPT to unrestricted guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVm, type VmExit } from '../../../src/vmm/vtx/index';
import { decodeEptp } from '../../../src/vmm/memory/index';
import { build, runGuest, IDT, IDENTITY_PAGING_4M } from './guest';
import { PAGING_ON } from '../memory/guests';

const SHUTDOWN = '  mov eax, 3\n  xor ebx, ebx\n  vmcall\n';
const MiB = 1 << 20;
const eptExits = (exits: VmExit[]): VmExit[] => exits.filter((e) => e.reason === 48 || e.reason === 49);

test('the default VM runs on EPT: control set, a valid EPTP, RAM mapped eagerly so RAM accesses never exit', () => {
  const r = runGuest(`  mov eax, [0x200000]\n  mov [0xF00000], eax\n${SHUTDOWN}`, undefined, { memorySize: 16 * MiB });
  const v = r.vm.vcpus[0];
  assert.equal(v.control('secondary', 'EPT'), true);
  const eptp = decodeEptp(v.vmcs.getBig('EPT_POINTER'));
  assert.equal(eptp.walkLength, 4);
  assert.equal(eptp.memoryType, 6);
  assert.equal(eptp.accessedDirty, false);
  assert.equal(eptp.pml4, r.vm.memory.layout.hostBase); // the first page of the VMM's region
  assert.equal(r.stop.reason, 'shutdown');
  assert.deepEqual(r.exits.map((e) => e.name), ['VMCALL']);
  assert.equal(r.vm.memory.counters.eptOnDemandMaps, 0);
  // Host memory: 16 MiB of guest RAM, then the 16 MiB the VMM keeps.
  assert.deepEqual(r.vm.memory.layout, { ramSize: 16 * MiB, hostBase: 16 * MiB, hostLimit: 32 * MiB });
  assert.equal(r.vm.machine.memory.size, 32 * MiB);
});

test('map on demand: one EPT violation per 2 MiB region, with fetch/read/write qualifications, GPA, GLA and length 0', () => {
  const r = runGuest(`  mov eax, [0x200010]\n  mov ebx, [0x3FF000]\n  mov dword [0x600004], 7\n${SHUTDOWN}`, undefined, { memorySize: 16 * MiB, memory: { eptMapOnDemand: true } });
  assert.equal(r.stop.reason, 'shutdown');
  const ept = eptExits(r.exits);
  // Bit 2 fetch / 0 read / 1 write, bits 5:3 nothing allowed (not present), bit 7 GLA valid, bit 8 final translation.
  assert.deepEqual(ept.map((e) => [e.qualification, e.guestPhysicalAddress, e.guestLinearAddress, e.instructionLength]), [
    [0x184, 0x1000, 0x1000, 0],
    [0x181, 0x200010, 0x200010, 0],
    [0x182, 0x600004, 0x600004, 0],
  ]);
  assert.equal(r.vm.memory.counters.eptOnDemandMaps, 3);
  assert.equal(r.vm.memory.counters.eptOnDemandBytes, 3 * 2 * MiB);
  assert.deepEqual(r.vm.memory.ept?.onDemand, [{ gpa: 0, size: 2 * MiB }, { gpa: 2 * MiB, size: 2 * MiB }, { gpa: 6 * MiB, size: 2 * MiB }]);
  assert.match(ept[2].why, /^guest write of GPA 0x600004 \(linear 0x600004\): the EPT PDE for it is not present$/);
  assert.equal(ept[2].summary, 'data write at GPA 0x600004: GPA not mapped by EPT (GVA 0x600004, final translation)');
  // The guest saw nothing: the store happened after the mapping.
  assert.equal(r.vm.machine.memory.read32(0x600004), 7);
});

function pagingStructureGuest(): string {
  // A directory at 0x10000 whose PDE 4 points at a page table in a region the guest never touched.
  return `${IDT}
start:
  call setup_idt
  mov edi, 0x10000
  xor eax, eax
  mov ecx, 1024
  rep stosd
  mov dword [0x10000], 0x83          ; 0-4 MiB: a 4 MiB identity page
  mov dword [0x10010], 0xA00003      ; 16-20 MiB: page table at 0xA00000
${PAGING_ON}  mov eax, [0x1003008]
${SHUTDOWN}`;
}

test('a guest paging-structure read that the EPT refuses: bits 0 and 7 (bit 8 clear), the PTE address as GPA; with EPT A/D also bit 1', () => {
  for (const [ad, q] of [[false, 0x81], [true, 0x83]] as const) {
    const src = pagingStructureGuest();
    const vm = createVm({ image: build(`  jmp start\n${src}`), memorySize: 16 * MiB, memory: { eptMapOnDemand: true, eptAccessedDirty: ad } });
    const exits: VmExit[] = [];
    vm.events.on('exit', (e) => exits.push(e));
    const stop = vm.run(100_000);
    const walk = eptExits(exits).find((e) => e.guestPhysicalAddress === 0xa00000 + 3 * 4);
    assert.ok(walk !== undefined, `ad=${ad}: no EPT violation on the page-table entry`);
    assert.equal(walk.qualification, q);
    assert.match(walk.why, ad ? /^guest paging-structure access \(EPT A\/D: read and write\) of GPA 0xa0000c/ : /^guest paging-structure read of GPA 0xa0000c/);
    assert.equal(walk.guestLinearAddress, 0x1003008);
    // After the mapping the PTE reads 0: the guest's own #PF (vector 14 stub: code 0x10E).
    assert.equal(stop.reason, 'shutdown');
    assert.equal(stop.code, 0x10e);
  }
});

test('an access outside every slot stops the VM with a report naming the access and the GPA', () => {
  const r = runGuest(`  mov eax, [0x2345678]\n${SHUTDOWN}`, undefined, { memorySize: 16 * MiB });
  assert.equal(r.stop.reason, 'error');
  assert.equal(r.stop.message, 'EPT violation: guest read of GPA 0x2345678 (linear 0x2345678) at RIP 0x1000 is outside every memory slot');
  const [e] = eptExits(r.exits);
  assert.equal(e.qualification, 0x181);
  // The VMM's own region (EPT pages) is not reachable either.
  const h = runGuest(`  mov eax, [0x1000000]\n${SHUTDOWN}`, undefined, { memorySize: 16 * MiB });
  assert.match(h.stop.message, /GPA 0x1000000 .* outside every memory slot/);
});

test('a ROM slot is mapped read/execute: reads work, a write exits with bits 1, 3, 5, 7, 8 and stops with a report', () => {
  const r = runGuest(`  mov eax, [0x2000000]\n  mov [0x2000000], eax\n${SHUTDOWN}`, undefined,
    { memorySize: 16 * MiB, memory: { slots: [{ name: 'bios', kind: 'rom', gpa: 0x2000000, size: 0x10000 }] } });
  assert.equal(r.stop.reason, 'error');
  assert.match(r.stop.message, /guest write of GPA 0x2000000 .* writes ROM slot "bios"/);
  const [e] = eptExits(r.exits);
  assert.equal(e.qualification, 0x1aa);
  assert.match(e.why, /the EPT allows only r-x/);
  const slot = r.vm.memory.slots.find(0x2000000);
  assert.ok(slot !== undefined && slot.kind === 'ram' && slot.readOnly && slot.hpa >= r.vm.memory.layout.hostBase);
});

test('an EPT misconfiguration (exit 49) stops the VM with the reason', () => {
  const vm = createVm({ image: build(`  mov eax, [0x200000]\n${SHUTDOWN}`), memorySize: 16 * MiB });
  vm.memory.ept?.tables.map(0x200000, 0x200000, 0x1000, '-w-');
  const exits: VmExit[] = [];
  vm.events.on('exit', (e) => exits.push(e));
  const stop = vm.run(1000);
  assert.deepEqual(exits.map((e) => [e.reason, e.qualification, e.guestPhysicalAddress]), [[49, 0, 0x200000]]);
  assert.equal(stop.reason, 'error');
  assert.equal(stop.message, 'EPT misconfiguration at GPA 0x200000: PTE is writable but not readable (RWX = 010b) (RIP 0x1000)');
});

test('an EPT violation during event delivery reports the event in IDT-vectoring information', () => {
  // The IDT is in a region the guest never touched: INT 0x30 reads its gate through an unmapped EPT entry.
  const src = `  lidt [idtr]\n  int 0x30\n${SHUTDOWN}\nidtr: dw 0x3ff\n  dd 0x800000\n`;
  const r = runGuest(src, undefined, { memorySize: 16 * MiB, memory: { eptMapOnDemand: true } });
  const gate = eptExits(r.exits).find((e) => e.guestPhysicalAddress === 0x800000 + 0x30 * 8);
  assert.ok(gate !== undefined);
  assert.equal(gate.idtVectoringInfo, 0x80000430); // valid, type 4 (software interrupt), vector 0x30
});

test('unrestricted guest needs EPT: VM entry fails with VM-instruction error 7 and says so', () => {
  const r = runGuest('  hlt\n', (v) => v.setControl('secondary', 'EPT', false), { mode: 'real' });
  assert.equal(r.stop.reason, 'error');
  assert.equal(r.stop.entryFailure?.check, 'unrestricted-guest-needs-ept');
  assert.equal(r.stop.entryFailure?.instructionError, 7);
  assert.match(r.stop.message, /"unrestricted guest" \(secondary bit 7\) is set but "enable EPT" \(secondary bit 1\) is clear/);
  const bad = runGuest('  hlt\n', (v) => v.vmcs.set('EPT_POINTER', v.vmcs.getBig('EPT_POINTER') | 0x80n), {});
  assert.equal(bad.stop.entryFailure?.check, 'ept-pointer');
  assert.match(bad.stop.message, /reserved bits 11:7 are set/);
  assert.throws(() => createVm({ image: build('  hlt\n', 16, 0x7c00), mode: 'real', paging: 'shadow' }), /real mode in VMX non-root operation needs "unrestricted guest", which requires EPT/);
  assert.throws(() => createVm({ image: build('  hlt\n', 16, 0x7c00), mode: 'real', paging: 'none' }), /paging "none" cannot run a real-mode guest/);
});

test('a real-mode guest runs unrestricted on the EPT', () => {
  const r = runGuest('  mov ax, [0x9000]\n  mov word [0x9002], 0x1234\n  hlt\n', undefined, { mode: 'real', memorySize: 16 * MiB, memory: { eptMapOnDemand: true } });
  assert.equal(r.stop.reason, 'hlt');
  assert.deepEqual(eptExits(r.exits).map((e) => [e.qualification, e.guestPhysicalAddress]), [[0x184, 0x7c00]]);
  assert.equal(r.vm.machine.memory.read16(0x9002), 0x1234);
});

test('translate() in EPT mode: each guest entry with the EPT walk that found it, and the final EPT walk', () => {
  const vm = createVm({ image: build(`  jmp start\n${pagingStructureGuest()}`), memorySize: 16 * MiB });
  vm.run(100_000);
  const t = vm.translate(0, 0x1003008, { access: 'write' });
  assert.equal(t.mode, 'ept');
  assert.equal(t.paging, true);
  assert.deepEqual(t.guest.map((g) => [g.name, g.gpa, g.hpa, g.value, g.ept?.outcome, g.ept?.steps.length]), [
    ['PDE', 0x10010, 0x10010, 0xa00003, 'ok', 3], // 2 MiB EPT pages: PML4E, PDPTE, PDE
    ['PTE', 0xa0000c, 0xa0000c, 0, 'ok', 3],
  ]);
  assert.equal(t.fault?.kind, 'page-fault');
  assert.equal(t.fault?.kind === 'page-fault' ? t.fault.errorCode : -1, 2);
  const big = vm.translate(0, 0x123456);
  assert.equal(big.pageSize, 0x400000);
  assert.equal(big.gpa, 0x123456);
  assert.equal(big.hpa, 0x123456);
  assert.equal(big.ept?.outcome, 'ok');
  assert.equal(big.ept?.outcome === 'ok' ? big.ept.pageSize : 0, 2 * MiB);
  assert.equal(big.fault, null);
  const out = vm.translate(0, 0x2000); // paging on: PDE 0 maps it
  assert.equal(out.hpa, 0x2000);
  // Plain data: it survives JSON (bigint EPT entries as strings).
  assert.doesNotThrow(() => JSON.stringify(t, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v)));
});

test('paging "none": no EPT, no unrestricted guest, GPA = HPA; an unpaged guest fails the CR0 fixed-bit check', () => {
  const r = runGuest(SHUTDOWN, undefined, { paging: 'none', memorySize: 16 * MiB });
  const v = r.vm.vcpus[0];
  assert.equal(v.control('secondary', 'EPT'), false);
  assert.equal(v.control('secondary', 'UNRESTRICTED_GUEST'), false);
  assert.equal(r.stop.reason, 'error');
  assert.equal(r.stop.entryFailure?.check, 'guest-cr0-fixed');
  const t = r.vm.translate(0, 0x123456);
  assert.deepEqual([t.mode, t.gpa, t.hpa, t.ept, t.fault], ['none', 0x123456, 0x123456, null, null]);
});

test('setting the accessed bit in a guest PTE on a read-only EPT page: a paging-structure write (bits 1, 3, 5, 7), then mapped writable', () => {
  const src = `
${IDENTITY_PAGING_4M}  mov eax, 0x10000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  mov eax, [0x200000]
${SHUTDOWN}`;
  const vm = createVm({ image: build(src), memorySize: 16 * MiB });
  const exits: VmExit[] = [];
  vm.events.on('exit', (e) => {
    exits.push(e);
    // Once paging is about to go on, the VMM write-protects the guest's page table in the EPT.
    if (e.name === 'CR_ACCESS' && (e.qualification & 0xf) === 0) { vm.memory.ept?.tables.protect(0x11000, 0x1000, 'r-x'); vm.vcpus[0].cpu.flushTlb(); }
  });
  const stop = vm.run(100_000);
  assert.equal(stop.reason, 'shutdown');
  const [e] = eptExits(exits);
  assert.equal(e.guestPhysicalAddress, 0x11004); // the PTE of the first page touched with paging on (the code page 0x1000)
  assert.equal(e.qualification, 0xaa);
  assert.equal(e.guestLinearAddress, 0x1042); // the fetch right after MOV CR0, whose walk sets the PTE's accessed bit
  assert.equal(e.why, 'guest paging-structure write (accessed/dirty update) of GPA 0x11004 (linear 0x1042): the EPT allows only r-x');
});

test('an emulated CR3 load flushes the guest TLB: with a VPID, a retargeted PTE is seen after MOV CR3 exits', () => {
  // Page 0x200000 maps frame 0x200000, then its PTE is pointed at 0x300000 and CR3 reloaded. The
  // default controls make the CR3 load exit; the VPID keeps the guest's TLB across exit and entry,
  // so only the handler's flush makes the second read see the new frame.
  const r = runGuest(`${IDENTITY_PAGING_4M}
  mov dword [0x200000], 0x11111111
  mov dword [0x300000], 0x22222222
  mov eax, 0x10000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  mov esi, [0x200000]
  mov dword [0x11000 + 0x200 * 4], 0x300003
  mov eax, cr3
  mov cr3, eax
  mov edi, [0x200000]
${SHUTDOWN}`);
  assert.equal(r.stop.reason, 'shutdown', r.stop.message);
  const v = r.vm.vcpus[0];
  assert.equal(v.control('secondary', 'VPID'), true);
  assert.ok(r.exits.filter((e) => e.name === 'CR_ACCESS').length >= 2, 'the CR3 loads exit');
  assert.equal(v.cpu.r[6] >>> 0, 0x11111111);
  assert.equal(v.cpu.r[7] >>> 0, 0x22222222, 'the read after the CR3 reload sees the retargeted PTE');
});
