import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageTableNodes, evaluateCommand } from '../../../src/debug/inspect/index';
import type { Vm } from '../../../src/vmm/vtx/index';
import { child, kids, runTo, HEXFMT } from './helpers';
import { PAGE_TABLES, PAGING_ON } from '../../vmm/memory/guests';

// Page directory at 0x10000: PDE 0 → page table 0x12000 identity-mapping 0-4 MiB,
// PDE 1 a 4 MiB page → 0x800000; PDE 0x300 → page table 0x11000 whose PTE 2 maps
// 0xC0002000 → 0x302000. Paging on, one read through the 4 MiB page, then HLT.
const PAGING = `${PAGE_TABLES}  mov dword [0x11008], 0x302005
${PAGING_ON}  mov eax, [0x401000]
  mov eax, [0xC0002000]
  hlt
`;

function run(paging: 'ept' | 'shadow'): Vm {
  const { vm, stop } = runTo(PAGING, 100000, { paging });
  assert.equal(stop.reason, 'hlt', stop.message);
  return vm;
}

test('guest page directory: present PDEs, 4 MiB pages, PTEs of a present PDE', () => {
  const vm = run('ept');
  const guest = child(pageTableNodes(vm, 0, HEXFMT), 'Guest page tables');
  assert.equal(guest.indexedCount, 1024);
  assert.match(guest.value, /page directory at GPA 0x10000, CR4.PSE/);
  const present = kids(guest);
  assert.deepEqual(present.map((n) => n.name), ['PDE 000', 'PDE 001', 'PDE 300']);
  const big = child(present, 'PDE 001');
  assert.match(big.value, /4 MiB page → GPA 0x800000/);
  const bigFlags = kids(big);
  assert.equal(child(bigFlags, 'PS').value, '1');
  assert.equal(child(bigFlags, 'frame').value, '0x00800000');
  assert.equal(child(bigFlags, 'A').value, '1', 'the read through it set accessed');
  const pde300 = child(present, 'PDE 300');
  assert.match(pde300.type ?? '', /GVA 0xC0000000-0xC03FFFFF/);
  const pt = child(kids(pde300), 'page table');
  assert.equal(pt.indexedCount, 1024);
  const ptes = kids(pt);
  assert.deepEqual(ptes.map((n) => n.name), ['PTE 002']);
  assert.match(ptes[0].value, /GVA 0xC0002000 → GPA 0x302000 \(P RO U A\)/);
  assert.equal(ptes[0].memoryReference, 'gva:0xc0002000');
  assert.equal(child(kids(ptes[0]), 'U/S').value, '1');
});

test('paging a 1024-entry table builds only the requested range', () => {
  const vm = run('ept');
  const mem = vm.machine.memory;
  const original = mem.read32.bind(mem);
  let reads = 0;
  mem.read32 = (a: number): number => { reads++; return original(a); };
  try {
    const guest = child(pageTableNodes(vm, 0, HEXFMT), 'Guest page tables');
    reads = 0;
    const page = guest.childrenRange?.(0x2F8, 10) ?? [];
    assert.equal(page.length, 10);
    assert.deepEqual(page.map((n) => n.name), ['PDE 2F8', 'PDE 2F9', 'PDE 2FA', 'PDE 2FB', 'PDE 2FC', 'PDE 2FD', 'PDE 2FE', 'PDE 2FF', 'PDE 300', 'PDE 301']);
    assert.equal(reads, 10, 'one entry read per requested index');
    assert.equal(page[0].value, 'not present');
    assert.equal(page[0].children, undefined);
    reads = 0;
    assert.equal(guest.childrenRange?.(1020, 50).length, 4, 'clipped at the end of the table');
    assert.equal(reads, 4);
  } finally {
    mem.read32 = original;
  }
});

test('EPT nodes: PML4 → PDPT → PD with a large page for mapped RAM', () => {
  const vm = run('ept');
  const ept = child(pageTableNodes(vm, 0, HEXFMT), 'EPT');
  assert.equal(ept.indexedCount, 512);
  assert.match(ept.value, /WB, 4-level/);
  const pml4e = child(kids(ept), 'PML4E 000');
  assert.match(pml4e.value, /RWX → PDPT at HPA/);
  const pdpt = child(kids(pml4e), 'PDPTE table');
  const pdpte = child(kids(pdpt), 'PDPTE 000');
  const pd = child(kids(pdpte), 'PDE table');
  const first = pd.childrenRange?.(0, 1)[0];
  assert.ok(first);
  assert.match(first.value, /RWX 2 MiB page GPA 0x0 → HPA 0x0 WB/);
  const flags = kids(first);
  assert.equal(child(flags, 'large page').value, '1');
  assert.equal(child(flags, 'memory type').value, '6 (WB)');
  assert.equal(child(flags, 'read').value, '1');
  assert.equal(child(flags, 'execute').value, '1');
});

test('shadow mode shows the shadow tables and no EPT', () => {
  const vm = run('shadow');
  const nodes = pageTableNodes(vm, 0, HEXFMT);
  assert.equal(nodes.some((n) => n.name === 'EPT'), false);
  const shadow = child(nodes, 'Shadow page tables');
  assert.match(shadow.value, /paged: shadows the guest's tables/);
  const pdes = kids(shadow);
  assert.ok(pdes.length >= 2);
  // The 4 MiB guest page at GVA 0x400000 is shadowed with 4 KiB entries: PDE 001 → a table with PTE 001 → 0x801000.
  const pde1 = child(pdes, 'PDE 001');
  const pte = kids(child(kids(pde1), 'page table'));
  assert.ok(pte.some((n) => /GVA 0x401000 → HPA 0x801000/.test(n.value)), pte.map((n) => n.value).join('\n'));
  assert.match(child(kids(child(nodes, 'Guest page tables')), 'PDE 001').value, /4 MiB page/);
});

test('translate shows the GVA → GPA → HPA walk as a tree', () => {
  const vm = run('ept');
  const r = evaluateCommand(vm, 0, 'translate 0xC0002010', HEXFMT);
  assert.equal(r.result, 'GVA 0xC0002010 → GPA 0x302010 → HPA 0x302010 (4 KiB page) [ept mode, vCPU 0]');
  const parts = kids(r.node ?? { name: '', value: '' });
  assert.deepEqual(parts.map((n) => n.name), ['guest CR0/CR3/CR4', 'access', 'guest PDE at GPA 0x10C00', 'guest PTE at GPA 0x11008', 'GPA', 'EPT walk', 'HPA']);
  const pte = child(parts, 'guest PTE at GPA 0x11008');
  assert.equal(child(kids(pte), 'R/W').value, '0');
  assert.match(child(kids(pte), 'EPT walk of the entry').value, /GPA 0x11008 → HPA 0x11008/);
  const walk = kids(child(parts, 'EPT walk'));
  assert.deepEqual(walk.map((n) => n.name.split(' ')[0]), ['PML4E', 'PDPTE', 'PDE']);
  const fault = evaluateCommand(vm, 0, 'translate 0xC0001000', HEXFMT);
  assert.match(fault.result, /GVA 0xC0001000: #PF, error code 0x0/);
  assert.ok(kids(fault.node ?? { name: '', value: '' }).some((n) => n.name === 'fault'));
  // CR0.WP is clear: a supervisor write to the read-only page is allowed, a user write faults.
  assert.doesNotMatch(evaluateCommand(vm, 0, 'translate 0xC0002000 write', HEXFMT).result, /#PF/);
  assert.match(evaluateCommand(vm, 0, 'translate 0xC0002000 write user', HEXFMT).result, /#PF, error code 0x7/);
  assert.throws(() => evaluateCommand(vm, 0, 'translate', HEXFMT), /needs an address/);
  assert.throws(() => evaluateCommand(vm, 0, 'translate xyz', HEXFMT), /not a number/);
  assert.throws(() => evaluateCommand(vm, 0, 'translate 0x1000 sideways', HEXFMT), /unknown option/);
});

test('translate in shadow mode reports the shadow entries; ept walks a GPA', () => {
  const vm = run('shadow');
  const r = evaluateCommand(vm, 0, 'translate 0x401000', HEXFMT);
  assert.match(r.result, /GVA 0x401000 → GPA 0x801000 → HPA 0x801000 \(shadow, in-sync\)/);
  assert.ok(kids(r.node ?? { name: '', value: '' }).some((n) => n.name === 'shadow'));
  assert.throws(() => evaluateCommand(vm, 0, 'ept 0x1000', HEXFMT), /shadow paging, not EPT/);
  const e = evaluateCommand(run('ept'), 0, 'ept 0x1234', HEXFMT);
  assert.match(e.result, /GPA 0x1234 → HPA 0x1234 \(2 MiB page, WB\)/);
  assert.match(evaluateCommand(run('ept'), 0, 'ept 0xF0000000', HEXFMT).result, /EPT violation/);
});
