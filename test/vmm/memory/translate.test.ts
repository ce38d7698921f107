// translateGva on a guest that built its own page tables and ran with a
// relocating EPT: every level's addresses, values and flags, hand-computed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Machine } from '../../../src/x86/machine';
import {
  Ept, HostAllocator, MemorySlots, installEpt, translateGva, type EptWalk, type GuestControlRegs, type GvaWalk,
} from '../../../src/vmm/memory';
import { pagingGuest, relocateRam } from './guests';

const MiB = 1 << 20;
const RAM = 8 * MiB; // guest RAM: GPA [0, 8 MiB) at HPA [8 MiB, 16 MiB)
const TABLES = 24 * MiB; // PML4 0x1800000, PDPT 0x1801000, PD 0x1802000

interface Ran { m: Machine; ept: Ept; regs: GuestControlRegs }
let cached: Ran | undefined;
function ran(): Ran {
  if (cached) return cached;
  const { m } = pagingGuest();
  relocateRam(m, RAM, RAM);
  const ept = new Ept(m.memory, new HostAllocator(m.memory, TABLES, 32 * MiB), { accessedDirty: true });
  ept.map(0, RAM, RAM, 'rwx');
  installEpt(m.cpu, ept);
  assert.equal(m.run(100000).reason, 'hlt');
  const s = m.state();
  cached = { m, ept, regs: { cr0: s.cr0, cr3: s.cr3, cr4: s.cr4 } };
  return cached;
}
const hex = (n: number | bigint | null): string => (n === null ? 'null' : `0x${n.toString(16)}`);
const eptSteps = (w: EptWalk | null): string[][] => (w === null ? [] : w.steps.map((s) => [s.name, hex(s.entryHpa), hex(s.value)]));

test('a 4 KiB translation: PDE and PTE with their GPAs, EPT walks, values and flags; final GPA and HPA', () => {
  const { m, ept, regs } = ran();
  assert.equal(hex(regs.cr0), '0xe0000011');
  const w = translateGva({ mem: m.memory, ept }, regs, 0xc0000124, { access: 'write' });
  assert.equal(w.paging, true);
  assert.equal(w.fault, null);
  assert.equal(w.guest.length, 2);
  const [pde, pte] = w.guest;
  assert.equal(pde.name, 'PDE');
  assert.equal(hex(pde.gpa), '0x10c00', 'CR3 0x10000 + 0x300 * 4');
  assert.equal(hex(pde.hpa), '0x810c00');
  assert.equal(hex(pde.value), '0x11027', 'PT 0x11000, P RW US, accessed');
  assert.deepEqual(pde.flags, {
    present: true, writable: true, user: true, writeThrough: false, cacheDisable: false, accessed: true,
    dirty: false, pageSize: false, global: false, address: 0x11000,
  });
  // The EPT walk of the PDE's GPA, with A and D set by the guest's own accesses (it wrote the page tables).
  assert.deepEqual(eptSteps(pde.ept), [
    ['PML4E', '0x1800000', '0x1801107'], ['PDPTE', '0x1801000', '0x1802107'], ['PDE', '0x1802000', '0x8003b7'],
  ]);
  assert.equal(hex(pte.gpa), '0x11000');
  assert.equal(hex(pte.hpa), '0x811000');
  assert.equal(hex(pte.value), '0x300063', 'frame 0x300000, P RW, accessed, dirty (the guest wrote 0xC0000124)');
  assert.equal(pte.flags?.dirty, true);
  assert.equal(pte.flags?.user, false);
  assert.equal(hex(w.gpa), '0x300124');
  assert.equal(w.pageSize, 0x1000);
  assert.deepEqual(eptSteps(w.ept), [
    ['PML4E', '0x1800000', '0x1801107'], ['PDPTE', '0x1801000', '0x1802107'], ['PDE', '0x1802008', '0xa003b7'],
  ]);
  assert.equal(hex(w.hpa), '0xb00124');
  assert.equal(m.memory.read32(w.hpa ?? 0), 0x12345678, 'the HPA holds what the guest wrote at the GVA');
  assert.equal(w.shadow, undefined, 'no shadow view outside shadow-paging mode');
});

test('guest page faults: not present, user write to a read-only page; supervisor write allowed with WP=0', () => {
  const { m, ept, regs } = ran();
  const np = translateGva({ mem: m.memory, ept }, regs, 0xc0001000);
  assert.deepEqual(np.fault && np.fault.kind === 'page-fault' ? [np.fault.errorCode, hex(np.fault.cr2)] : null, [0, '0xc0001000']);
  assert.equal(hex(np.guest[1].gpa), '0x11004');
  assert.equal(np.guest[1].value, 0);
  assert.equal(np.gpa, null);
  const ro = translateGva({ mem: m.memory, ept }, regs, 0xc0002000, { access: 'write', user: true });
  assert.ok(ro.fault?.kind === 'page-fault' && ro.fault.errorCode === 7, 'P | W | U');
  assert.equal(hex(ro.guest[1].value), '0x302025');
  const npUser = translateGva({ mem: m.memory, ept }, regs, 0xc0001ffc, { access: 'write', user: true });
  assert.ok(npUser.fault?.kind === 'page-fault' && npUser.fault.errorCode === 6, 'W | U, not present');
  const sup = translateGva({ mem: m.memory, ept }, regs, 0xc0002000, { access: 'write' });
  assert.equal(sup.fault, null);
  assert.equal(hex(sup.hpa), '0xb02000');
  const supU = translateGva({ mem: m.memory, ept }, regs, 0xc0000000, { user: true });
  assert.ok(supU.fault?.kind === 'page-fault' && supU.fault.errorCode === 5, 'user read of a supervisor page: P | U');
  const wp = translateGva({ mem: m.memory, ept }, { ...regs, cr0: regs.cr0 | 0x10000 }, 0xc0002000, { access: 'write' });
  assert.ok(wp.fault?.kind === 'page-fault' && wp.fault.errorCode === 3, 'CR0.WP=1: P | W');
});

test('a 4 MiB page whose GPA the EPT does not map: one guest level, then an EPT violation', () => {
  const { m, ept, regs } = ran();
  const w = translateGva({ mem: m.memory, ept }, regs, 0x400010);
  assert.equal(w.guest.length, 1);
  assert.equal(hex(w.guest[0].value), '0x800083');
  assert.equal(w.guest[0].flags?.pageSize, true);
  assert.equal(hex(w.guest[0].flags?.address ?? null), '0x800000');
  assert.equal(w.pageSize, 0x400000);
  assert.equal(hex(w.gpa), '0x800010');
  assert.deepEqual(w.fault, { kind: 'ept-violation', exitReason: 48, gpa: 0x800010, qualification: 0x181, guestLinear: 0x400010 });
  assert.equal(w.ept?.steps.length, 3, 'the EPT PDE for 8 MiB is not present');
  assert.equal(w.hpa, null);
  // Reserved bits 21:13 in a 4 MiB PDE: #PF with RSVD.
  const bad = { ...regs };
  const pdeHpa = RAM + 0x10004;
  m.memory.write32(pdeHpa, 0x802083);
  try {
    const r = translateGva({ mem: m.memory, ept }, bad, 0x400010);
    assert.ok(r.fault?.kind === 'page-fault' && r.fault.errorCode === 9, 'P | RSVD');
  } finally {
    m.memory.write32(pdeHpa, 0x800083);
  }
  // Without CR4.PSE bit 7 is ignored and the PDE points to a page table at 0x800000 (outside guest RAM).
  const nopse = translateGva({ mem: m.memory, ept }, { ...regs, cr4: 0 }, 0x400010);
  assert.equal(hex(nopse.guest[1]?.gpa ?? null), '0x800000');
  assert.ok(nopse.fault?.kind === 'ept-violation' && nopse.fault.qualification === 0x83, 'paging-structure read with A/D on');
});

test('an EPT violation on a guest page-table read stops the walk at that level', () => {
  const { m, ept, regs } = ran();
  ept.protect(0x11000, 0x1000, 'r-x');
  try {
    const w: GvaWalk = translateGva({ mem: m.memory, ept }, regs, 0xc0000120);
    assert.equal(w.guest.length, 2);
    assert.equal(w.guest[1].hpa, null);
    assert.equal(w.guest[1].value, null);
    assert.deepEqual(w.fault, { kind: 'ept-violation', exitReason: 48, gpa: 0x11000, qualification: 0xab, guestLinear: 0xc0000120 });
    assert.equal(w.gpa, null);
  } finally {
    ept.protect(0x11000, 0x1000, 'rwx');
  }
});

test('update: true sets the guest accessed/dirty bits and the EPT flags as the CPU would', () => {
  const { m, ept, regs } = ran();
  // Identity PT at 0x12000; entry 5 (GVA 0x5000) was never used by the guest after paging.
  const pteHpa = RAM + 0x12000 + 5 * 4;
  assert.equal(hex(m.memory.read32(pteHpa)), '0x5003');
  const look = translateGva({ mem: m.memory, ept }, regs, 0x5000, { access: 'write' });
  assert.equal(hex(look.hpa), '0x805000');
  assert.equal(hex(m.memory.read32(pteHpa)), '0x5003', 'inspection changes nothing');
  translateGva({ mem: m.memory, ept }, regs, 0x5000, { access: 'write', update: true });
  assert.equal(hex(m.memory.read32(pteHpa)), '0x5063');
  translateGva({ mem: m.memory, ept }, regs, 0x6000, { update: true });
  assert.equal(hex(m.memory.read32(pteHpa + 4)), '0x6023', 'a read sets accessed only');
});

test('paging off: the GVA is the GPA; with EPT off the slots resolve GPAs, MMIO and holes are reported', () => {
  const { m, ept } = ran();
  const real: GuestControlRegs = { cr0: 0x11, cr3: 0, cr4: 0 };
  const w = translateGva({ mem: m.memory, ept }, real, 0x7c00, { access: 'fetch' });
  assert.deepEqual([w.paging, w.guest.length, hex(w.gpa), hex(w.hpa)], [false, 0, '0x7c00', '0x807c00']);
  const slots = new MemorySlots(32 * MiB);
  slots.addRam({ name: 'ram-low', gpa: 0, size: 0x11000, hpa: RAM });
  slots.addMmio({ name: 'hole', gpa: 0x11000, size: 0x1000 });
  slots.addRam({ name: 'ram', gpa: 0x12000, size: RAM - 0x12000, hpa: RAM + 0x12000 });
  const { regs } = ran();
  const viaSlots = translateGva({ mem: m.memory, slots }, regs, 0xc0002000);
  assert.equal(viaSlots.guest[0].ept, null);
  assert.equal(hex(viaSlots.guest[0].hpa), '0x810c00');
  assert.ok(viaSlots.fault?.kind === 'mmio' && viaSlots.fault.gpa === 0x11008 && viaSlots.fault.offset === 8, 'the PTE lies in an MMIO slot');
  const hole = translateGva({ mem: m.memory, slots }, regs, 0x400010);
  assert.deepEqual(hole.fault, { kind: 'unmapped', gpa: 0x800010 });
  const bare = translateGva({ mem: m.memory }, real, 0x1234);
  assert.equal(bare.hpa, 0x1234);
});
