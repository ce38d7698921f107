// Shadow paging: the same guest-visible results as EPT at a different cost
// in exits, #PF reflection with the guest's own error code and CR2, the
// TLB semantics the shadow keeps, CR3 switches, accessed/dirty emulation,
// translate() with the shadow entries, and snapshots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assemble } from '../../../src/x86/asm/index';
import { createVm, type Vm, type VmExit, type VmOptions } from '../../../src/vmm/vtx/index';
import { parseVmConfig, toVmOptions } from '../../../src/vmm/config/index';
import { build, IDENTITY_PAGING_4M } from './guest';

const MiB = 1 << 20;
const SHUTDOWN = '  mov eax, 3\n  xor ebx, ebx\n  vmcall\n';
const EXAMPLE_DIR = new URL('../../../examples/paging-ept-vs-shadow/', import.meta.url);
const EXAMPLE = fileURLToPath(new URL('guest.asm', EXAMPLE_DIR));

/** The VM options of one of the example's configurations (vm.json: EPT, shadow.vm.json: shadow paging). */
function exampleOptions(file: string): Partial<VmOptions> {
  const parsed = parseVmConfig(JSON.parse(readFileSync(fileURLToPath(new URL(file, EXAMPLE_DIR)), 'utf8')));
  assert.ok('config' in parsed);
  const r = toVmOptions(parsed.config);
  assert.ok(r.ok);
  return r.options;
}

interface Run { vm: Vm; exits: VmExit[]; injected: number[]; stop: ReturnType<Vm['run']> }

function run(image: Uint8Array, paging: VmOptions['paging'], extra: Partial<VmOptions> = {}, onExit?: (vm: Vm, e: VmExit) => void): Run {
  const vm = createVm({ image, paging, memorySize: 16 * MiB, ...extra });
  const exits: VmExit[] = [];
  const injected: number[] = [];
  vm.events.on('exit', (e) => { exits.push(e); onExit?.(vm, e); });
  vm.events.on('entry', (e) => { if (e.injected !== 0) injected.push(e.injected); });
  const stop = vm.run(1_000_000);
  return { vm, exits, injected, stop };
}

function counts(exits: VmExit[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of exits) out[e.name] = (out[e.name] ?? 0) + 1;
  return out;
}

/**
 * A paged guest: directory 0x10000, PDE 0 -> table 0x11000 identity-mapping
 * 0-4 MiB (supervisor, writable), an IDT at 0x3000 whose #PF gate stores CR2
 * at 0x4004 and the error code at 0x4008 and shuts down with code 0x10E.
 * `before` runs with paging off, `body` with paging on. `idt` moves the IDT.
 */
function paged(body: string, before = '', idt = 0x3000): Uint8Array {
  return build(`
  mov edi, ${idt}
  xor eax, eax
  mov ecx, 64
  rep stosd
  mov eax, pf
  mov [${idt} + 14*8], ax
  mov word [${idt} + 14*8 + 2], 0x08
  mov word [${idt} + 14*8 + 4], 0x8E00
  shr eax, 16
  mov [${idt} + 14*8 + 6], ax
  lidt [idtr]
${IDENTITY_PAGING_4M}  mov dword [0x200000], 0x11
  mov dword [0x201000], 0x22
${before}
  mov eax, 0x10000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80010000
  mov cr0, eax
${body}
${SHUTDOWN}
pf:
  mov eax, cr2
  mov [0x4004], eax
  mov eax, [esp]
  mov [0x4008], eax
  mov eax, 3
  mov ebx, 0x10e
  vmcall
idtr: dw 32*8-1
  dd ${idt}
`);
}

test('the example guest: the same console output, registers and memory under EPT and shadow paging, at different exit counts', () => {
  const r = assemble(readFileSync(EXAMPLE, 'utf8'), { fileName: 'guest.asm' });
  assert.ok(r.ok);
  const ept = run(r.bytes, 'ept', exampleOptions('vm.json'));
  const shadow = run(r.bytes, 'shadow', exampleOptions('shadow.vm.json'));
  assert.equal(shadow.vm.memory.mode, 'shadow');
  for (const x of [ept, shadow]) {
    assert.equal(x.stop.reason, 'shutdown');
    assert.equal(String.fromCharCode(...x.vm.output), '0000D133\n');
  }
  const regs = (x: Run): number[] => [...x.vm.vcpus[0].cpu.r].map((v) => v >>> 0);
  assert.deepEqual(regs(shadow), regs(ept));
  const sum = (x: Run): number => {
    let s = 0;
    for (let a = 0x300000; a < 0x332000; a += 4) s = (s + x.vm.machine.memory.read32(a)) >>> 0;
    for (let a = 0x800000; a < 0x880000; a += 0x10000) s = (s + x.vm.machine.memory.read32(a)) >>> 0;
    return s;
  };
  assert.equal(sum(shadow), sum(ept));
  // EPT: RAM is mapped and the guest owns CR3, so its paging never exits; CR0.PG is host-owned (1 exit),
  // the console and the shutdown exit.
  assert.deepEqual(counts(ept.exits), { CR_ACCESS: 1, IO_INSTRUCTION: 9, VMCALL: 1 });
  assert.equal(ept.exits.length, 11);
  // Shadow: every first touch of a page is a #PF exit, plus CR3 loads/stores, CR4/CR0 and the INVLPG.
  assert.deepEqual(counts(shadow.exits), { EXCEPTION_NMI: 55, CR_ACCESS: 5, INVLPG: 1, IO_INSTRUCTION: 9, VMCALL: 1 });
  assert.equal(shadow.exits.length, 71);
  const c = shadow.vm.memory.counters;
  assert.deepEqual([c.shadowFills, c.shadowReflected, c.shadowInvlpg, c.shadowCr3Loads], [54, 1, 1, 2]);
  // The shadow VMCS: EPT and unrestricted guest off, CR3 exiting, #PF in the exception bitmap, PG/WP/PSE owned.
  const v = shadow.vm.vcpus[0];
  assert.equal(v.control('secondary', 'EPT') || v.control('secondary', 'UNRESTRICTED_GUEST'), false);
  assert.equal(v.control('primary', 'CR3_LOAD_EXITING') && v.control('primary', 'CR3_STORE_EXITING') && v.control('primary', 'INVLPG_EXITING'), true);
  assert.equal((v.vmcs.get('EXCEPTION_BITMAP') >>> 14) & 1, 1);
  assert.equal((v.vmcs.get('CR0_GUEST_HOST_MASK') & 0x80010001) >>> 0, 0x80010001);
  assert.equal(v.vmcs.get('CR4_GUEST_HOST_MASK') & 0xb0, 0xb0);
});

test('a #PF the guest tables cause is reflected with the guest error code and CR2', () => {
  // Not present (PDE 1 is empty): error code 2 (write).
  const np = run(paged('  mov dword [0x500010], 1\n'), 'shadow');
  assert.equal(np.stop.code, 0x10e);
  assert.equal(np.vm.machine.memory.read32(0x4004), 0x500010);
  assert.equal(np.vm.machine.memory.read32(0x4008), 2);
  assert.ok(np.injected.includes(0x80000b0e)); // #PF, hardware exception, error code valid
  assert.equal(np.vm.vcpus[0].cpu.cr2 >>> 0, 0x500010);
  assert.equal(np.vm.memory.counters.shadowReflected, 1);
  // Protection: page 0x7000 read-only, CR0.WP set, supervisor write: error code 3 (present, write).
  const ro = run(paged('  mov dword [0x7000], 1\n', '  and dword [0x11000 + 7*4], ~2\n'), 'shadow');
  assert.equal(ro.stop.code, 0x10e);
  assert.equal(ro.vm.machine.memory.read32(0x4004), 0x7000);
  assert.equal(ro.vm.machine.memory.read32(0x4008), 3);
  // The exit itself carried the hardware's error code on the shadow (page not yet shadowed: 2).
  const pf = ro.exits.filter((e) => e.name === 'EXCEPTION_NMI' && e.qualification === 0x7000);
  assert.deepEqual(pf.map((e) => e.interruptionErrorCode), [2]);
  // The same guests under EPT: the same guest-visible faults with no #PF exits at all.
  const e1 = run(paged('  mov dword [0x500010], 1\n'), 'ept');
  assert.deepEqual([e1.vm.machine.memory.read32(0x4004), e1.vm.machine.memory.read32(0x4008)], [0x500010, 2]);
  assert.equal(e1.exits.filter((e) => e.name === 'EXCEPTION_NMI').length, 0);
});

test('a #PF in the delivery of a reflected #PF exits with IDT-vectoring information; the shadow fills it and re-injects the #PF', () => {
  // The IDT is moved so that the #PF gate straddles pages 0x2000 and 0x3000: the VMM's prefault of the
  // delivery covers the gate's first page only, so reading the gate's high dword misses the shadow.
  const idt = 0x3000 - 14 * 8 - 4;
  const r = run(paged('  mov dword [0x500010], 1\n', '', idt), 'shadow');
  assert.equal(r.stop.code, 0x10e, r.stop.message);
  const m = r.vm.machine.memory;
  assert.deepEqual([m.read32(0x4004), m.read32(0x4008)], [0x500010, 2], 'the guest sees the original #PF: CR2 and error code');
  const i = r.exits.findIndex((e) => e.name === 'EXCEPTION_NMI' && e.qualification === 0x500010);
  const nested = r.exits[i + 1];
  assert.equal(nested.name, 'EXCEPTION_NMI');
  assert.equal(nested.qualification, 0x3000, 'the gate high dword');
  assert.equal(nested.interruptionInfo, 0x80000b0e);
  assert.equal(nested.interruptionErrorCode, 0, 'supervisor read, not present in the shadow');
  assert.equal(nested.idtVectoringInfo, 0x80000b0e, 'during delivery of the injected #PF');
  assert.equal(nested.idtVectoringErrorCode, 2);
  // The reflected #PF is injected twice (once re-injected after the nested exit), and no #DF or triple fault happens.
  assert.deepEqual(r.injected.filter((x) => (x & 0xff) === 14), [0x80000b0e, 0x80000b0e]);
  assert.equal(r.injected.some((x) => (x & 0xff) === 8), false);
  assert.equal(r.vm.memory.counters.shadowReflected, 1);
});

test('a #PF the guest tables raise in the delivery of a reflected #PF is a #DF, as under EPT', () => {
  // The #PF gate straddles into page 0x3000, which the guest's tables do not map; gate 8 lies in page 0x2000.
  const idt = 0x3000 - 14 * 8 - 4;
  const before = `  mov eax, df
  mov [${idt} + 8*8], ax
  mov word [${idt} + 8*8 + 2], 0x08
  mov word [${idt} + 8*8 + 4], 0x8E00
  shr eax, 16
  mov [${idt} + 8*8 + 6], ax
  mov dword [0x11000 + 3*4], 0
`;
  const body = '  mov dword [0x500010], 1\n  jmp done8\ndf:\n  mov eax, cr2\n  mov [0x4010], eax\n  mov eax, [esp]\n  mov [0x4014], eax\n  mov eax, 3\n  mov ebx, 0x108\n  vmcall\ndone8:\n';
  const image = paged(body, before, idt);
  for (const mode of ['shadow', 'ept'] as const) {
    const r = run(image, mode);
    assert.equal(r.stop.code, 0x108, `${mode}: ${r.stop.message}`);
    const m = r.vm.machine.memory;
    assert.deepEqual([m.read32(0x4010), m.read32(0x4014)], [0x3000, 0], `${mode}: CR2 of the second #PF, #DF error code 0`);
    if (mode === 'shadow') assert.deepEqual(r.injected.filter((x) => (x & 0xff) === 14 || (x & 0xff) === 8), [0x80000b0e, 0x80000b08]);
  }
});

test('an external interrupt whose delivery misses the shadow is delivered once, after the fill', () => {
  // Gate 0x40 (IDT page 0x3000, not shadowed once paging is on) counts its calls at 0x4010.
  const before = `  mov eax, h40
  mov [0x3000 + 0x40*8], ax
  mov word [0x3000 + 0x40*8 + 2], 0x08
  mov word [0x3000 + 0x40*8 + 4], 0x8E00
  shr eax, 16
  mov [0x3000 + 0x40*8 + 6], ax
  mov word [idtr], 0x41*8-1
  lidt [idtr]
`;
  const body = '  sti\n  nop\n  nop\n  nop\n  jmp done40\nh40:\n  inc dword [0x4010]\n  iret\ndone40:\n  mov eax, [0x4010]\n';
  const vm = createVm({ image: paged(body, before), paging: 'shadow', memorySize: 16 * MiB });
  const exits: VmExit[] = [];
  vm.events.on('exit', (e) => exits.push(e));
  vm.interrupts.vcpus[0].queueInterrupt(0x40);
  const stop = vm.run(1_000_000);
  assert.equal(stop.reason, 'shutdown', stop.message);
  const during = exits.filter((e) => e.name === 'EXCEPTION_NMI' && e.idtVectoringInfo === 0x80000040);
  assert.ok(during.length >= 1, 'a #PF exit interrupted the delivery of the interrupt');
  assert.equal(vm.machine.memory.read32(0x4010), 1, 'handled exactly once');
});

test('the shadow is the guest TLB: a PTE change is not seen until INVLPG, and translate() calls the entry stale meanwhile', () => {
  const body = `
  mov eax, [0x200000]
  mov dword [0x11000 + 0x200*4], 0x201003
  mov ebx, [0x200000]
  invlpg [0x200000]
  mov ecx, [0x200000]
  mov [0x4010], eax
  mov [0x4014], ebx
  mov [0x4018], ecx`;
  let atInvlpg: ReturnType<Vm['translate']> | null = null;
  const r = run(paged(body), 'shadow', {}, (vm, e) => { if (e.name === 'INVLPG') atInvlpg = vm.translate(0, 0x200000); });
  assert.equal(r.stop.reason, 'shutdown');
  const m = r.vm.machine.memory;
  assert.deepEqual([m.read32(0x4010), m.read32(0x4014), m.read32(0x4018)], [0x11, 0x11, 0x22]);
  const t = atInvlpg as ReturnType<Vm['translate']> | null;
  assert.ok(t !== null && t.shadow !== undefined);
  assert.equal(t.shadow.state, 'stale');
  assert.equal(t.shadow.inSync, false);
  assert.equal(t.shadow.note, 'the guest now maps host page 0x201000, the shadow still 0x200000');
  assert.equal(t.hpa, 0x201000); // the guest's tables
  assert.equal(t.shadow.hpa, 0x200000); // what the processor uses
  const after = r.vm.translate(0, 0x200000);
  assert.equal(after.shadow?.state, 'in-sync');
  assert.equal(after.shadow?.hpa, 0x201000);
});

test('CR3 switches: each load empties the shadow, MOV from CR3 returns the guest value, not the shadow root', () => {
  const before = `
  mov esi, 0x11000
  mov edi, 0x13000
  mov ecx, 1024
  rep movsd
  mov dword [0x13000 + 0x200*4], 0x201003
  mov edi, 0x12000
  xor eax, eax
  mov ecx, 1024
  rep stosd
  mov dword [0x12000], 0x13003`;
  const body = `
  mov eax, [0x200000]
  mov [0x4010], eax
  mov eax, 0x12000
  mov cr3, eax
  mov eax, [0x200000]
  mov [0x4014], eax
  mov eax, cr3
  mov [0x401c], eax
  mov eax, 0x10000
  mov cr3, eax
  mov eax, [0x200000]
  mov [0x4018], eax`;
  const r = run(paged(body, before), 'shadow');
  assert.equal(r.stop.reason, 'shutdown');
  const m = r.vm.machine.memory;
  assert.deepEqual([m.read32(0x4010), m.read32(0x4014), m.read32(0x4018), m.read32(0x401c)], [0x11, 0x22, 0x11, 0x12000]);
  assert.equal(r.vm.memory.counters.shadowCr3Loads, 3);
  const v = r.vm.vcpus[0].vmcs;
  assert.equal(v.get('GUEST_CR3'), r.vm.translate(0, 0).shadow?.root);
  assert.notEqual(v.get('GUEST_CR3'), 0x10000);
  assert.equal(r.vm.translate(0, 0).regs.cr3, 0x10000);
  const loads = r.exits.filter((e) => e.name === 'CR_ACCESS' && (e.qualification & 0x3f) === 3);
  assert.deepEqual(loads.map((e) => e.summary?.startsWith('MOV CR3')), [true, true, true]);
});

test('accessed/dirty emulation: a read shadows the page read-only and sets A; the first write faults again and sets D', () => {
  const body = '  mov eax, [0x250000]\n  mov [0x4010], eax\n  mov eax, [0x11000 + 0x250*4]\n  mov [0x4014], eax\n  mov dword [0x250000], 5\n';
  const r = run(paged(body), 'shadow');
  assert.equal(r.stop.reason, 'shutdown');
  const m = r.vm.machine.memory;
  assert.equal(m.read32(0x4014) & 0x60, 0x20); // after the read: accessed, clean
  assert.equal(m.read32(0x11000 + 0x250 * 4) & 0x60, 0x60); // after the write: dirty
  const faults = r.exits.filter((e) => e.name === 'EXCEPTION_NMI' && e.qualification === 0x250000);
  assert.deepEqual(faults.map((e) => e.interruptionErrorCode), [0, 3]); // not present read, then a write to the read-only shadow
  const t = r.vm.translate(0, 0x250000, { access: 'write' });
  assert.equal(t.shadow?.entries[1].flags.writable, true);
  assert.equal(t.shadow?.entries[1].flags.dirty, true);
});

test('translate() in shadow mode: guest entries, the shadow PDE/PTE in host memory, and their state', () => {
  const r = run(paged('  mov eax, [0x200000]\n'), 'shadow');
  const t = r.vm.translate(0, 0x200004);
  assert.equal(t.mode, 'shadow');
  assert.deepEqual(t.guest.map((g) => [g.name, g.gpa, g.hpa, g.ept]), [['PDE', 0x10000, 0x10000, null], ['PTE', 0x11800, 0x11800, null]]);
  assert.equal(t.gpa, 0x200004);
  assert.equal(t.hpa, 0x200004);
  const s = t.shadow;
  assert.ok(s !== undefined);
  assert.equal(s.rootKind, 'paged');
  assert.ok(s.root >= r.vm.memory.layout.hostBase && s.root < r.vm.memory.layout.hostLimit);
  assert.deepEqual(s.entries.map((e) => [e.name, e.hpa >= r.vm.memory.layout.hostBase, e.flags.present]), [['PDE', true, true], ['PTE', true, true]]);
  assert.equal(s.entries[1].flags.address, 0x200000);
  assert.equal(s.entries[1].flags.writable, false); // read so far: clean
  assert.equal(s.hpa, 0x200004);
  assert.equal(s.state, 'in-sync');
  const cold = r.vm.translate(0, 0x3ff000);
  assert.equal(cold.shadow?.state, 'not-cached');
  assert.equal(cold.shadow?.hpa, null);
  assert.equal(cold.hpa, 0x3ff000);
  const bad = r.vm.translate(0, 0x900000, { access: 'write' });
  assert.deepEqual(bad.fault, { kind: 'page-fault', vector: 14, errorCode: 2, cr2: 0x900000, message: 'PDE not present' });
});

test('guest paging off runs on the physical-mode shadow root; clearing CR0.PE is refused with a reason', () => {
  const r = run(build(`  mov eax, [0x200000]\n${SHUTDOWN}`), 'shadow');
  assert.equal(r.stop.reason, 'shutdown');
  const t = r.vm.translate(0, 0x200000);
  assert.equal(t.paging, false);
  assert.equal(t.shadow?.rootKind, 'physical');
  assert.equal(t.shadow?.state, 'in-sync');
  assert.ok(r.vm.vcpus[0].vmcs.get('GUEST_CR0') & 0x80000000); // the processor pages; the guest does not know
  assert.equal(r.vm.translate(0, 0).regs.cr0 & 0x80000000, 0);
  const pe = run(build(`  mov eax, cr0\n  and eax, ~1\n  mov cr0, eax\n${SHUTDOWN}`), 'shadow');
  assert.equal(pe.stop.reason, 'error');
  assert.match(pe.stop.message, /guest cleared CR0\.PE at RIP 0x[0-9a-f]+: real mode under shadow paging needs "unrestricted guest", which requires EPT/);
});

test('a whole-VM snapshot carries the shadow bookkeeping: restoring and running again gives the same output and exits', () => {
  const r = assemble(readFileSync(EXAMPLE, 'utf8'), { fileName: 'guest.asm' });
  assert.ok(r.ok);
  const vm = createVm({ image: r.bytes, paging: 'shadow', memorySize: 16 * MiB });
  let exits = 0;
  vm.events.on('exit', () => exits++);
  vm.run(700);
  const snap = JSON.parse(JSON.stringify(vm.snapshot())) as ReturnType<Vm['snapshot']>;
  const mid = exits;
  const first = vm.run(1_000_000);
  const out1 = String.fromCharCode(...vm.output);
  const total1 = exits - mid;
  vm.restore(snap);
  const before = vm.output.length;
  const mark = exits;
  const second = vm.run(1_000_000);
  assert.equal(first.reason, 'shutdown');
  assert.equal(second.reason, 'shutdown');
  assert.equal(exits - mark, total1);
  assert.equal(String.fromCharCode(...vm.output.slice(before)), out1.slice(out1.length - (vm.output.length - before)));
  assert.ok(String.fromCharCode(...vm.output).endsWith('0000D133\n'));
});
