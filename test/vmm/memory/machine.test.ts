// EPT under the running CPU: identical results with an identity or a
// relocating EPT, and violations / misconfigurations surfacing as 'vmexit'
// stops with the exact qualification, GPA and guest-linear address, the
// faulting instruction restartable, the TLB never caching more than the EPT
// grants, and the event being delivered reported for IDT-vectoring info.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Machine } from '../../../src/x86/machine';
import { Ept, HostAllocator, describeExit, installEpt, type EptExit } from '../../../src/vmm/memory';
import { ORG, flatGuest, pagingGuest, relocateRam } from './guests';

const MiB = 1 << 20;
const GUEST_RAM = 8 * MiB;
const EPT_TABLES = 24 * MiB;

function eptFor(m: Machine, hpaBase: number, opts: { ad?: boolean } = {}): Ept {
  const ept = new Ept(m.memory, new HostAllocator(m.memory, EPT_TABLES, 32 * MiB), { accessedDirty: opts.ad });
  ept.map(0, hpaBase, GUEST_RAM, 'rwx');
  return ept;
}

function guestPages(m: Machine, base: number): Map<number, string> {
  const out = new Map<number, string>();
  for (let p = 0; p < GUEST_RAM; p += 0x1000) {
    const bytes = m.memory.readBytes(base + p, 0x1000);
    if (bytes.some((b) => b !== 0)) out.set(p, Buffer.from(bytes).toString('hex'));
  }
  return out;
}

test('a paging guest gives the same registers, console and memory with an identity EPT', () => {
  const plain = pagingGuest().m;
  const withEpt = pagingGuest().m;
  const installed = installEpt(withEpt.cpu, eptFor(withEpt, 0, { ad: true }));
  const a = plain.run(100000), b = withEpt.run(100000);
  assert.equal(a.reason, 'hlt');
  assert.deepEqual(b, a);
  assert.equal(plain.state().ebx, 0x5eed, 'the guest read through its own mapping');
  assert.deepEqual(withEpt.state(), plain.state());
  assert.deepEqual(withEpt.console, plain.console);
  assert.deepEqual(guestPages(withEpt, 0), guestPages(plain, 0));
  assert.equal(installed.exitFromStop(b), null, 'a plain hlt is not an EPT exit');
});

test('a relocating EPT (GPA 0-8 MiB at HPA 8-16 MiB) runs the guest from the relocated copy', () => {
  const plain = pagingGuest().m;
  const moved = pagingGuest().m;
  relocateRam(moved, GUEST_RAM, GUEST_RAM);
  // Poison the original copy: any access that bypassed the EPT would run into int3s.
  for (let p = 0; p < GUEST_RAM / 0x1000; p++) moved.memory.setPage(p, new Uint8Array(0x1000).fill(0xcc), false);
  installEpt(moved.cpu, eptFor(moved, GUEST_RAM, { ad: true }));
  assert.deepEqual(moved.run(100000), plain.run(100000));
  assert.deepEqual(moved.state(), plain.state());
  assert.deepEqual(guestPages(moved, GUEST_RAM), guestPages(plain, 0));
  assert.equal(moved.memory.read32(0x300124) >>> 0, 0xcccccccc, 'host memory below 8 MiB untouched');
  assert.equal(moved.memory.read32(GUEST_RAM + 0x300124) >>> 0, 0x12345678);
});

function exitOf(m: Machine, installed: ReturnType<typeof installEpt>): { exit: EptExit; eip: number } {
  const stop = m.run(100000);
  assert.equal(stop.reason, 'vmexit', stop.message);
  const exit = installed.exitFromStop(stop);
  assert.ok(exit !== null, stop.message);
  assert.equal(stop.message, describeExit(exit));
  return { exit, eip: stop.eip };
}

test('a write to an EPT read-only page exits with qualification 0x18a and restarts after the VMM fixes it', () => {
  const { m } = flatGuest(`
    mov eax, [0x200000]
    mov dword [0x201000], 0x11111111
    mov ebx, 0x22222222
    hlt
  `);
  const ept = eptFor(m, 0);
  ept.protect(0x201000, 0x1000, 'r--');
  const installed = installEpt(m.cpu, ept);
  const { exit, eip } = exitOf(m, installed);
  assert.equal(exit.exitReason, 48);
  assert.equal(exit.qualification, 0x18a, 'write (1), readable (3), GVA valid (7), final translation (8)');
  assert.equal(exit.gpa, 0x201000);
  assert.equal(exit.guestLinear, 0x201000);
  assert.equal(exit.access, 'write');
  assert.equal(exit.event, null, 'not during event delivery');
  assert.equal(exit.pagingStructure, false);
  assert.equal(eip, ORG + 5, 'EIP stays on the faulting mov');
  assert.equal(m.state().eip, ORG + 5);
  assert.equal(m.state().ebx, 0);
  assert.equal(m.memory.read32(0x201000), 0, 'the write did not happen');
  ept.protect(0x201000, 0x1000, 'rw-');
  m.cpu.flushTlb();
  assert.equal(m.run(100).reason, 'hlt');
  assert.equal(m.memory.read32(0x201000), 0x11111111);
  assert.equal(m.state().ebx, 0x22222222);
});

test('a fetch from a non-executable page exits with qualification 0x19c at the jump target', () => {
  const { m } = flatGuest('jmp 0x300000');
  m.memory.write8(0x300000, 0xf4); // hlt
  const ept = eptFor(m, 0);
  ept.protect(0x300000, 0x1000, 'rw-');
  const installed = installEpt(m.cpu, ept);
  const { exit, eip } = exitOf(m, installed);
  assert.equal(exit.qualification, 0x19c, 'fetch (2), readable (3), writable (4), 7, 8');
  assert.equal(exit.gpa, 0x300000);
  assert.equal(eip, 0x300000);
  ept.protect(0x300000, 0x1000, 'r-x');
  m.cpu.flushTlb();
  const s = m.run(10);
  assert.equal(s.reason, 'hlt');
  assert.equal(s.eip, 0x300001);
});

test('a fetch from a non-executable page exits even after a data read put the page in the TLB', () => {
  const { m } = flatGuest('mov eax, [0x300000]\njmp 0x300000');
  m.memory.write8(0x300000, 0xf4); // hlt
  const ept = eptFor(m, 0);
  ept.protect(0x300000, 0x1000, 'rw-');
  const installed = installEpt(m.cpu, ept);
  const { exit, eip } = exitOf(m, installed);
  assert.equal(m.state().eax, 0xf4, 'the read went through');
  assert.equal(exit.access, 'fetch');
  assert.equal(exit.qualification, 0x19c);
  assert.equal(eip, 0x300000);
});

test('a misconfigured entry exits with reason 49 and no qualification', () => {
  const { m } = flatGuest('mov eax, [0x400000]\nhlt');
  const ept = eptFor(m, 0);
  ept.map(0x400000, 0x400000, 0x1000, '-wx');
  const installed = installEpt(m.cpu, ept);
  const { exit } = exitOf(m, installed);
  assert.equal(exit.exitReason, 49);
  assert.equal(exit.qualification, 0);
  assert.equal(exit.gpa, 0x400000);
  assert.ok(exit.walk.outcome === 'misconfig');
  installed.uninstall();
  assert.equal(m.cpu.mmu.gpaToHpa, null);
  assert.equal(m.run(10).reason, 'hlt', 'without the EPT the access goes straight to memory');
});

test('a guest page-table read that the EPT does not map exits with bit 7 set and bit 8 clear', () => {
  const { m, symbols } = pagingGuest();
  const ept = eptFor(m, GUEST_RAM, { ad: true });
  relocateRam(m, GUEST_RAM, GUEST_RAM);
  const installed = installEpt(m.cpu, ept);
  assert.equal(m.run(100000).reason, 'hlt');
  ept.unmap(0x11000, 0x1000);
  m.cpu.flushTlb();
  m.cpu.halted = false;
  const { exit, eip } = exitOf(m, installed);
  // A/D on: the PTE access counts as a write (bits 0 and 1), no rights, GVA valid, not final.
  assert.equal(exit.qualification, 0x83);
  assert.equal(exit.gpa, 0x11000, 'the PTE address for 0xC0000120');
  assert.equal(exit.pagingStructure, true);
  assert.equal(eip, (symbols.get('first_hlt') ?? -1) + 1);
  ept.mapPage(0x11000, GUEST_RAM + 0x11000, 'rw-');
  m.cpu.flushTlb();
  assert.equal(m.run(100).reason, 'hlt');
  assert.equal(m.state().ecx, 0xdeadbeef);
});

test('an exit inside a hot loop leaves the same restartable state with and without the JIT', () => {
  const src = `
    mov edi, 0x200000
    mov ecx, 32
  next:
    mov [edi], ecx
    add edi, 0x1000
    dec ecx
    jnz next
    hlt
  `;
  const results = [true, false].map((jit) => {
    const { m, symbols } = flatGuest(src);
    m.engine.jitEnabled = jit;
    const ept = eptFor(m, 0);
    ept.protect(0x214000, 0x1000, 'r-x');
    const installed = installEpt(m.cpu, ept);
    const { exit, eip } = exitOf(m, installed);
    assert.equal(exit.gpa, 0x214000);
    assert.equal(exit.qualification, 0x1aa);
    assert.equal(eip, symbols.get('next'), 'EIP on the store');
    const s = m.state();
    assert.equal(s.edi, 0x214000);
    assert.equal(s.ecx, 32 - 0x14);
    assert.equal(m.memory.read32(0x213000), 32 - 0x13);
    assert.equal(m.memory.read32(0x214000), 0);
    ept.protect(0x214000, 0x1000, 'rwx');
    m.cpu.flushTlb();
    assert.equal(m.run(1000).reason, 'hlt');
    assert.equal(m.memory.read32(0x214000), 32 - 0x14);
    assert.equal(m.memory.read32(0x21f000), 1);
    return { state: m.state(), count: m.instructionCount };
  });
  assert.deepEqual(results[0], results[1]);
});

test('an exit while delivering a fault (IDT page not mapped) stops with vmexit and reports the #UD being delivered', () => {
  const { m, symbols } = flatGuest(`
    lidt [idtr]
  fault:
    ud2
    hlt
  idtr:
    dw 0x7ff
    dd 0x600000
  `);
  const ept = eptFor(m, 0);
  ept.unmap(0x600000, 0x1000);
  const installed = installEpt(m.cpu, ept);
  const { exit } = exitOf(m, installed);
  assert.equal(exit.gpa, 0x600030, 'the #UD gate: IDT base + 6 * 8');
  assert.equal(exit.guestLinear, 0x600030);
  assert.equal(exit.qualification, 0x181, 'read (0) of a not-present page, GVA valid (7), final translation (8)');
  assert.deepEqual(exit.event, { vector: 6, errorCode: -1, kind: 'fault' });
  assert.equal(m.state().eip, symbols.get('fault'), 'EIP still on ud2');
  assert.equal(m.state().esp, 0x80000, 'nothing pushed');
});

test('a write after a read of an EPT read-only page exits although the read filled the TLB', () => {
  for (const jit of [true, false]) {
    const { m, symbols } = flatGuest(`
      mov ecx, 40
    warm:
      mov eax, [0x201000]
      dec ecx
      jnz warm
    store:
      mov dword [0x201004], 0x11111111
      hlt
    `);
    m.engine.jitEnabled = jit;
    const ept = eptFor(m, 0);
    ept.protect(0x201000, 0x1000, 'r--');
    const installed = installEpt(m.cpu, ept);
    const { exit, eip } = exitOf(m, installed);
    assert.equal(eip, symbols.get('store'));
    assert.equal(exit.exitReason, 48);
    assert.equal(exit.qualification, 0x18a, 'write (1), readable (3), GVA valid (7), final translation (8)');
    assert.equal(exit.gpa, 0x201004, 'the page offset is kept');
    assert.equal(exit.guestLinear, 0x201004);
    assert.equal(m.memory.read32(0x201004), 0);
    assert.equal(m.state().ecx, 0, 'the reads all ran');
  }
});

test('the EPT dirty flag is set by the first write to a page that a read brought into the TLB', () => {
  const { m } = flatGuest(`
    mov eax, [0x200000]
    hlt
    mov dword [0x200008], 1
    hlt
  `);
  const ept = eptFor(m, 0, { ad: true });
  installEpt(m.cpu, ept);
  // 0x200000-0x3FFFFF is one 2 MiB leaf that only the guest's data accesses touch.
  const leaf = (): bigint => {
    const w = ept.walk(0x200000, { kind: 'read' }, false);
    return w.steps[w.steps.length - 1].value;
  };
  assert.equal(leaf() & 0x300n, 0n, 'neither accessed (8) nor dirty (9) before the run');
  assert.equal(m.run(100).reason, 'hlt');
  assert.equal(leaf() & 0x300n, 0x100n, 'the read set accessed only');
  m.cpu.halted = false;
  assert.equal(m.run(100).reason, 'hlt');
  assert.equal(leaf() & 0x300n, 0x300n, 'the write set dirty');
  assert.equal(m.memory.read32(0x200008), 1);
});

/** Paging on (identity 0-4 MiB; 0xC0000000 -> 0x300000 through the PT at 0x11000), stopped at `ready`. */
const LINEAR_GUEST = `
  mov edi, 0x12000
  mov eax, 0x003
  mov ecx, 1024
fill:
  stosd
  add eax, 0x1000
  loop fill
  mov dword [0x10000], 0x12003
  mov dword [0x10000 + 0x300*4], 0x11003
  mov dword [0x11000], 0x300003
  mov eax, 0x10000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
ready:
  hlt
  mov eax, [0xC0000120]
access:
  mov dword [0xC0000124], 0x77
  hlt
`;

test('a violation through guest paging reports the GPA with its offset and the guest-linear address', () => {
  const { m, symbols } = flatGuest(LINEAR_GUEST);
  const ept = eptFor(m, 0);
  const installed = installEpt(m.cpu, ept);
  assert.equal(m.run(100000).reason, 'hlt');
  ept.protect(0x300000, 0x1000, 'r-x');
  m.cpu.flushTlb();
  m.cpu.halted = false;
  const { exit, eip } = exitOf(m, installed);
  assert.equal(eip, symbols.get('access'), 'the read before it ran; the write exits from a TLB hit');
  assert.equal(exit.gpa, 0x300124);
  assert.equal(exit.guestLinear, 0xc0000124);
  assert.equal(exit.qualification, 0x1aa, 'write (1), readable (3), executable (5), GVA valid (7), final (8)');
  assert.equal(m.state().eax, 0, 'the read returned the zero page');
  ept.protect(0x300000, 0x1000, 'rwx');
  m.cpu.flushTlb();
  assert.equal(m.run(10).reason, 'hlt');
  assert.equal(m.memory.read32(0x300124), 0x77);
});

test('without EPT A/D flags, setting a guest accessed bit needs EPT write permission on the page table', () => {
  const { m, symbols } = flatGuest(LINEAR_GUEST);
  const ept = eptFor(m, 0);
  const installed = installEpt(m.cpu, ept);
  assert.equal(m.run(100000).reason, 'hlt');
  ept.protect(0x11000, 0x1000, 'r--');
  m.cpu.flushTlb();
  m.cpu.halted = false;
  const { exit, eip } = exitOf(m, installed);
  assert.equal(eip, (symbols.get('ready') ?? -1) + 1, 'the read of 0xC0000120');
  assert.equal(exit.access, 'paging-update');
  assert.equal(exit.pagingStructure, true);
  assert.equal(exit.gpa, 0x11000, 'the PTE for 0xC0000120');
  assert.equal(exit.guestLinear, 0xc0000120);
  assert.equal(exit.qualification, 0x8a, 'write (1), readable (3), GVA valid (7), not the final translation (8 clear)');
  assert.equal(m.memory.read32(0x11000), 0x300003, 'accessed bit not set');
  ept.protect(0x11000, 0x1000, 'rw-');
  m.cpu.flushTlb();
  assert.equal(m.run(10).reason, 'hlt');
  assert.equal(m.memory.read32(0x11000), 0x300063, 'accessed and dirty set on the restart');
});

test('an exit while delivering an external interrupt reports it; the interrupt is left to the VMM', () => {
  const { m, symbols } = flatGuest(`
    lidt [idtr]
    sti
    hlt
  after:
    hlt
  idtr:
    dw 0x7ff
    dd 0x600000
  `);
  const ept = eptFor(m, 0);
  ept.unmap(0x600000, 0x1000);
  const installed = installEpt(m.cpu, ept);
  assert.equal(m.run(100).reason, 'hlt');
  m.cpu.requestInterrupt(0x21);
  const { exit, eip } = exitOf(m, installed);
  assert.deepEqual(exit.event, { vector: 0x21, errorCode: -1, kind: 'external' });
  assert.equal(exit.gpa, 0x600108);
  assert.equal(eip, symbols.get('after'));
  assert.equal(m.cpu.irqQueue.length, 0);
  assert.equal(m.state().esp, 0x80000, 'nothing pushed');
});

test('step() and run() both return vmexit with the instruction not executed', () => {
  const { m } = flatGuest('mov ebx, 5\nmov [0x400010], ebx\nhlt');
  const ept = eptFor(m, 0);
  ept.unmap(0x400000, 0x1000);
  const installed = installEpt(m.cpu, ept);
  assert.equal(m.step().reason, 'limit');
  const stepped = m.step();
  assert.equal(stepped.reason, 'vmexit');
  assert.equal(stepped.instructions, 0);
  assert.equal(stepped.eip, ORG + 5);
  assert.equal(installed.exitFromStop(stepped)?.gpa, 0x400010);
  const ran = m.run(100);
  assert.equal(ran.reason, 'vmexit');
  assert.equal(ran.eip, ORG + 5);
  assert.equal(installed.exitFromStop(ran)?.qualification, 0x182, 'write (1), not present, GVA valid (7), final (8)');
  assert.equal(installed.exitFromStop({ ...ran, reason: 'error' }), null);
  assert.equal(installEpt(m.cpu, ept).exitFromStop(ran), null, 'another installation does not claim it');
});

test('the debugger probe translates through the EPT without setting its flags', () => {
  const { m } = flatGuest('hlt');
  const ept = eptFor(m, GUEST_RAM, { ad: true });
  relocateRam(m, GUEST_RAM, GUEST_RAM);
  installEpt(m.cpu, ept);
  ept.unmap(0x500000, 0x1000);
  const leaf = (): bigint => {
    const w = ept.walk(0x200000, { kind: 'read' }, false);
    return w.steps[w.steps.length - 1].value;
  };
  assert.equal(m.cpu.mmu.probe(0x200123), GUEST_RAM + 0x200123);
  assert.equal(leaf() & 0x300n, 0n, 'accessed flag untouched');
  assert.equal(m.cpu.mmu.probe(0x500000), -1);
  assert.equal(m.run(10).reason, 'hlt', 'no exit left pending');
});

test('an exit while delivering INT n or an NMI reports it with its kind', () => {
  const src = `
    lidt [idtr]
  soft:
    int 0x40
    hlt
  idtr:
    dw 0x7ff
    dd 0x600000
  `;
  const a = flatGuest(src);
  const eptA = eptFor(a.m, 0);
  eptA.unmap(0x600000, 0x1000);
  const { exit: soft, eip } = exitOf(a.m, installEpt(a.m.cpu, eptA));
  assert.deepEqual(soft.event, { vector: 0x40, errorCode: -1, kind: 'software' });
  assert.equal(soft.gpa, 0x600200);
  assert.equal(eip, a.symbols.get('soft'), 'EIP on the int instruction');

  const b = flatGuest(src);
  const eptB = eptFor(b.m, 0);
  eptB.unmap(0x600000, 0x1000);
  const installed = installEpt(b.m.cpu, eptB);
  assert.equal(b.m.step().reason, 'limit', 'lidt');
  b.m.cpu.requestNmi();
  const { exit: nmi } = exitOf(b.m, installed);
  assert.deepEqual(nmi.event, { vector: 2, errorCode: -1, kind: 'nmi' });
  assert.equal(nmi.gpa, 0x600010);
  assert.equal(b.m.cpu.nmiBlocked, false, 'the NMI was not delivered');
  assert.equal(b.m.state().eip, b.symbols.get('soft'));
});
