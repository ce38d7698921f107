// EPT under the running CPU: identical results with an identity or a
// relocating EPT, and violations / misconfigurations surfacing as exits with
// the exact qualification, the faulting instruction restartable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Machine } from '../../../src/x86/machine';
import { Ept, HostAllocator, installEpt, type EptExit } from '../../../src/vmm/memory';
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
  assert.equal(stop.reason, 'error', stop.message);
  const exit = installed.exitFromStop(stop);
  assert.ok(exit !== null, stop.message);
  assert.equal(installed.pending, null, 'taken');
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

test('an exit while delivering a fault (IDT page not mapped) escapes run() and is recovered with exitFromError', () => {
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
  let thrown: unknown = null;
  try {
    m.run(100);
  } catch (e) {
    thrown = e;
  }
  assert.equal(installed.exitFromError(new Error('other')), null);
  const exit = installed.exitFromError(thrown);
  assert.ok(exit !== null);
  // The #UD gate is at 0x600030; the CPU hands the translator page addresses for final accesses.
  assert.equal(exit.gpa, 0x600000, 'the page of the #UD gate');
  assert.equal(exit.qualification, 0x181, 'read (0) of a not-present page; the CPU reports it as a final access');
  assert.equal(m.state().eip, symbols.get('fault'), 'EIP still on ud2');
  assert.equal(m.state().esp, 0x80000, 'nothing pushed');
});
