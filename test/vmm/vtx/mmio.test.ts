// MMIO emulation: accesses to a registered device exit (EPT violation, or a
// #PF under shadow paging), the instruction at GUEST_RIP is decoded and
// carried out against the device, RIP moves past it, flags follow the ALU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVm, type VmExit, type VmOptions, type MmioDevice } from '../../../src/vmm/vtx/index';
import { build } from './guest';

const BASE = 0xfeb00000;
const SHUTDOWN = '  mov eax, 3\n  xor ebx, ebx\n  vmcall\n';

/** Eight 32-bit registers; every access is logged as [r|w, offset, size, value]. */
class FakeDevice implements MmioDevice {
  readonly regs = new Uint32Array(8);
  readonly log: [string, number, number, number][] = [];
  constructor() { this.regs.set([0x11223344, 0x80, 0xfffffff0, 0, 0x0f0f0f0f, 0, 0, 0]); }
  read(offset: number, size: 1 | 2 | 4): number {
    const word = this.regs[offset >>> 2];
    const v = size === 4 ? word : (word >>> ((offset & 3) * 8)) & (size === 2 ? 0xffff : 0xff);
    this.log.push(['r', offset, size, v >>> 0]);
    return v;
  }
  write(offset: number, size: 1 | 2 | 4, value: number): void {
    this.log.push(['w', offset, size, value >>> 0]);
    const i = offset >>> 2, sh = (offset & 3) * 8;
    const mask = size === 4 ? 0xffffffff : (size === 2 ? 0xffff : 0xff) << sh;
    this.regs[i] = ((this.regs[i] & ~mask) | ((value << sh) & mask)) >>> 0;
  }
}

const DRIVER = `
  mov esi, ${BASE}
  mov eax, [esi]                 ; read 4
  mov dword [esi + 0x0c], 0xCAFE ; write imm32
  mov [esi + 0x14], eax          ; write r32
  mov byte [esi + 0x18], 0x5A    ; write imm8
  mov [esi + 0x1a], ax           ; write r16
  movzx ecx, byte [esi + 1]      ; 0x33
  movsx edx, word [esi + 8]      ; 0xFFF0 -> 0xFFFFFFF0
  or dword [esi + 4], 0x100      ; read-modify-write
  and dword [esi + 0x10], 0xff   ; 0x0F
  add dword [esi + 8], 0x10      ; 0xFFFFFFF0 + 0x10 = 0: ZF and CF set
  pushfd
  pop edi
  mov ebx, [esi + 4]
  test dword [esi + 0x10], 0xf0  ; ZF set, nothing written
  pushfd
  pop ebp
  mov [0x5000], eax
  mov [0x5004], ebx
${SHUTDOWN}`;

function runDriver(paging: VmOptions['paging'], source = DRIVER): { dev: FakeDevice; exits: VmExit[]; stop: ReturnType<ReturnType<typeof createVm>['run']>; r: number[]; vm: ReturnType<typeof createVm> } {
  const vm = createVm({ image: build(source), paging, memorySize: 16 << 20 });
  const dev = new FakeDevice();
  vm.mapMmio('fake', BASE, 0x20, dev);
  const exits: VmExit[] = [];
  vm.events.on('exit', (e) => exits.push(e));
  const stop = vm.run(10_000);
  const r = [...vm.vcpus[0].cpu.r].map((v) => v >>> 0);
  r[0] = vm.machine.memory.read32(0x5000);
  r[3] = vm.machine.memory.read32(0x5004);
  return { dev, exits, stop, r, vm };
}

test('MMIO under EPT: reads, writes, MOVZX/MOVSX and read-modify-write reach the device; registers and flags as native', () => {
  const { dev, exits, stop, r, vm } = runDriver('ept');
  assert.equal(stop.reason, 'shutdown');
  assert.deepEqual(dev.log, [
    ['r', 0x00, 4, 0x11223344],
    ['w', 0x0c, 4, 0xcafe],
    ['w', 0x14, 4, 0x11223344],
    ['w', 0x18, 1, 0x5a],
    ['w', 0x1a, 2, 0x3344],
    ['r', 0x01, 1, 0x33],
    ['r', 0x08, 2, 0xfff0],
    ['r', 0x04, 4, 0x80], ['w', 0x04, 4, 0x180],
    ['r', 0x10, 4, 0x0f0f0f0f], ['w', 0x10, 4, 0x0f],
    ['r', 0x08, 4, 0xfffffff0], ['w', 0x08, 4, 0],
    ['r', 0x04, 4, 0x180],
    ['r', 0x10, 4, 0x0f],
  ]);
  assert.equal(r[0], 0x11223344);
  assert.equal(r[1], 0x33);
  assert.equal(r[2], 0xfffffff0);
  assert.equal(r[3], 0x180);
  assert.equal(r[7] & 0x41, 0x41); // after ADD: ZF and CF
  assert.equal(r[5] & 0x40, 0x40); // after TEST: ZF
  const mmio = exits.filter((e) => e.reason === 48);
  assert.equal(mmio.length, 12); // one exit per instruction that touches the device
  assert.ok(mmio.every((e) => e.instructionLength === 0 && (e.guestPhysicalAddress ?? 0) >= BASE));
  // Each exit's RIP is the next instruction: RIP advanced by the emulated instruction's length.
  assert.equal(mmio[1].rip - mmio[0].rip, 2); // mov eax, [esi]
  assert.equal(mmio[2].rip - mmio[1].rip, 7); // mov dword [esi+0xc], imm32
  assert.deepEqual([vm.memory.counters.mmioReads, vm.memory.counters.mmioWrites], [8, 7]);
});

test('MMIO under shadow paging: the same device traffic and registers, through #PF exits', () => {
  const ept = runDriver('ept');
  const shadow = runDriver('shadow');
  assert.equal(shadow.stop.reason, 'shutdown');
  assert.deepEqual(shadow.dev.log, ept.dev.log);
  assert.deepEqual(shadow.r, ept.r);
  const pf = shadow.exits.filter((e) => e.reason === 0 && (e.qualification >>> 0) >= BASE);
  assert.equal(pf.length, 12);
  // The MMIO page is never shadowed: every access faults again.
  assert.equal(shadow.vm.translate(0, BASE).shadow?.state, 'not-cached');
});

test('an instruction the emulator does not do stops the VM with its disassembly and RIP', () => {
  for (const paging of ['ept', 'shadow'] as const) {
    const { stop } = runDriver(paging, `  mov esi, ${BASE}\n  inc dword [esi + 4]\n${SHUTDOWN}`);
    assert.equal(stop.reason, 'error');
    assert.equal(stop.message, `MMIO instruction not emulated: inc dword [esi+0x4] at RIP 0x1005 (GPA 0xfeb00004, MMIO slot "fake" offset 0x4)`);
  }
});

test('an MMIO slot without a device (from the memory options) stops the VM naming the slot', () => {
  const vm = createVm({ image: build(`  mov eax, [0xFEC00010]\n${SHUTDOWN}`), memorySize: 16 << 20, memory: { slots: [{ name: 'ioapic', kind: 'mmio', gpa: 0xfec00000, size: 0x1000 }] } });
  const stop = vm.run(1000);
  assert.equal(stop.reason, 'error');
  assert.match(stop.message, /GPA 0xfec00010 .* is in MMIO slot "ioapic", which has no device/);
  assert.throws(() => createVm({ image: build(SHUTDOWN), paging: 'none' }).mapMmio('x', BASE, 0x1000, new FakeDevice()), /needs paging "ept" or "shadow"/);
});
