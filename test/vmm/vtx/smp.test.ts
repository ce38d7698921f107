// Multiprocessor start-up: the START_VCPU hypercall (state of the started
// vCPU, error returns) and INIT / start-up IPI (exits 3 and 4 with their
// exit-information fields, wait-for-SIPI, the real-mode start at vector << 12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVm, type Vm, type VmExit, type VmOptions } from '../../../src/vmm/vtx/index';
import { HC_EBUSY, HC_EINVAL } from '../../../src/vmm/vtx/hypercalls';
import { build, WAIT_FOR_AP_GUEST } from './guest';

interface Run { vm: Vm; exits: VmExit[] }

function boot(source: string, options: Partial<VmOptions> = { vcpus: 2 }): Run {
  const vm = createVm({ image: build(source), ...options });
  const exits: VmExit[] = [];
  vm.events.on('exit', (e) => exits.push(e));
  return { vm, exits };
}

const read32 = (vm: Vm, addr: number): number => vm.machine.memory.read32(addr) >>> 0;
const names = (exits: VmExit[]): string[] => exits.map((e) => `${e.vcpu}:${e.name}`);

/** START_VCPU(EBX, ECX, EDX) with the result stored at `store`. */
const start = (target: number, entry: string, esp: number, store: number): string => `
  mov eax, 4
  mov ebx, ${target}
  mov ecx, ${entry}
  mov edx, ${esp}
  vmcall
  mov [${store}], eax
`;

test('START_VCPU starts a parked vCPU at ECX with ESP = EDX, in the caller\'s mode, other registers 0', () => {
  const { vm, exits } = boot(`
  mov esi, 0x11111111
  ${start(1, 'ap', 0x60000, 0x5000)}
.wait:
  pause
  cmp dword [0x5100], 0
  je .wait
  mov eax, 3
  xor ebx, ebx
  vmcall
ap:
  mov [0x5104], esp
  mov [0x5108], esi
  mov [0x510c], eax
  mov [0x5110], cs
  mov [0x5114], ds
  mov eax, cr0
  mov [0x5118], eax
  mov dword [0x5100], 1
  cli
  hlt
`);
  assert.deepEqual(vm.runState, ['runnable', 'wait-for-sipi']);
  assert.equal(vm.vcpus[1].vmcs.get('GUEST_ACTIVITY_STATE'), 3);
  const stop = vm.run(100_000);
  assert.equal(stop.reason, 'shutdown');
  assert.equal(read32(vm, 0x5000), 0);
  assert.equal(read32(vm, 0x5104), 0x60000);
  assert.deepEqual([read32(vm, 0x5108), read32(vm, 0x510c)], [0, 0]);
  assert.deepEqual([read32(vm, 0x5110) & 0xffff, read32(vm, 0x5114) & 0xffff], [0x08, 0x10]);
  assert.equal(read32(vm, 0x5118), 0x60000011); // the read shadow of the caller's CR0
  assert.deepEqual(names(exits), ['0:VMCALL', '1:HLT', '0:VMCALL']);
  assert.deepEqual(vm.runState, ['runnable', 'halted']);
});

test('START_VCPU errors: no such vCPU (-KVM_EINVAL), already running (-EBUSY), one vCPU only', () => {
  const guest = `
  ${start(5, 'ap', 0x60000, 0x5000)}
  ${start(0, 'ap', 0x60000, 0x5004)}
  ${start(1, 'ap', 0x60000, 0x5008)}
  ${start(1, 'ap', 0x60000, 0x500c)}
  ${start(0xffffffff, 'ap', 0x60000, 0x5010)}
  mov eax, 3
  xor ebx, ebx
  vmcall
ap:
  cli
  hlt
`;
  const two = boot(guest);
  assert.equal(two.vm.run(100_000).reason, 'shutdown');
  const results = [0x5000, 0x5004, 0x5008, 0x500c, 0x5010].map((a) => read32(two.vm, a) | 0);
  assert.deepEqual(results, [HC_EINVAL, HC_EBUSY, 0, HC_EBUSY, HC_EINVAL]);
  assert.deepEqual([HC_EINVAL, HC_EBUSY], [-22, -16]);
  const one = boot(guest, {});
  one.vm.run(100_000);
  assert.deepEqual([0x5000, 0x5004, 0x5008].map((a) => read32(one.vm, a) | 0), [HC_EINVAL, HC_EBUSY, HC_EINVAL]);
});

/** A flat32 image whose real-mode trampoline sits at 0x8000 (SIPI vector 8). */
const TRAMPOLINE_GUEST = `
  ${start(1, 'ap', 0x60000, 0x5000)}
bsp:
  pause
  jmp bsp
ap:
  inc dword [0x5200]
  jmp ap
  times 0x8000 - 0x1000 - ($ - $$) db 0
  bits 16
trampoline:
  mov ax, cs
  mov [0x7000], ax
  mov [0x7004], edx
  mov [0x7008], sp
  mov eax, cr0
  mov [0x700c], eax
  cli
  hlt
`;

test('INIT to a running vCPU: exit 3 with no qualification; the vCPU waits for SIPI and is not scheduled', () => {
  const { vm, exits } = boot(TRAMPOLINE_GUEST);
  vm.run(30_000);
  assert.deepEqual(names(exits), ['0:VMCALL']);
  assert.ok(read32(vm, 0x5200) > 0);
  assert.equal(vm.sendInit(1, 0), true);
  assert.deepEqual(vm.pendingSignals(1), [{ kind: 'init', vector: 0, from: 0 }]);
  vm.run(30_000);
  assert.deepEqual(names(exits), ['0:VMCALL', '1:INIT_SIGNAL']);
  const init = exits[1];
  assert.equal(init.reason, 3);
  assert.deepEqual([init.qualification, init.instructionLength, init.instructionInfo, init.interruptionInfo, init.idtVectoringInfo], [0, 0, 0, 0, 0]);
  assert.match(init.why, /INIT signal from vCPU 0/);
  assert.ok(init.rip >= 0x1000 && init.rip < 0x1040, `rip 0x${init.rip.toString(16)} in the AP's loop`);
  const v = vm.vcpus[1].vmcs;
  assert.equal(v.get('VM_EXIT_REASON'), 3);
  assert.equal(v.get('GUEST_ACTIVITY_STATE'), 3);
  assert.deepEqual(vm.runState, ['runnable', 'wait-for-sipi']);
  assert.deepEqual(vm.pendingSignals(1), []);
  const count = read32(vm, 0x5200);
  vm.run(30_000);
  assert.equal(read32(vm, 0x5200), count);
  assert.equal(vm.scheduler.view().vcpus[1].state, 'wait-for-sipi');
});

test('SIPI to a vCPU in wait-for-SIPI: exit 4 with the vector as qualification, then real mode at CS = vector << 8, IP = 0', () => {
  const { vm, exits } = boot(TRAMPOLINE_GUEST);
  vm.run(30_000);
  vm.sendInit(1);
  vm.run(1000);
  assert.equal(vm.sendSipi(1, 0x08, 0), true);
  vm.run(30_000);
  assert.deepEqual(names(exits), ['0:VMCALL', '1:INIT_SIGNAL', '1:SIPI_SIGNAL', '1:HLT']);
  const sipi = exits[2];
  assert.deepEqual([sipi.reason, sipi.qualification, sipi.instructionLength], [4, 0x08, 0]);
  assert.match(sipi.why, /start-up IPI from vCPU 0 with vector 0x08/);
  assert.match(exits[1].why, /^INIT signal \(/);
  // The trampoline ran in real mode at 0800:0000 = linear 0x8000.
  assert.equal(read32(vm, 0x7000) & 0xffff, 0x0800);
  assert.equal(read32(vm, 0x7004), 0x6f1);
  assert.equal(read32(vm, 0x7008) & 0xffff, 0);
  assert.equal(read32(vm, 0x700c) & 1, 0);
  const v = vm.vcpus[1].vmcs;
  assert.deepEqual([v.get('GUEST_CS_SELECTOR'), v.get('GUEST_CS_BASE'), v.get('GUEST_CS_LIMIT'), v.get('GUEST_CS_AR_BYTES')], [0x0800, 0x8000, 0xffff, 0x9b]);
  assert.equal(v.get('GUEST_CR0') & 0x80000001, 0);
  // HLT after 2 + 3 + 5 + 4 + 3 + 4 + 1 bytes: RIP is the offset in CS, without the base.
  assert.equal(exits[3].rip, 0x16);
  assert.deepEqual(vm.runState, ['runnable', 'halted']);
});

test('a SIPI to a vCPU that is not waiting for one is dropped; bad targets are refused', () => {
  const { vm, exits } = boot(TRAMPOLINE_GUEST);
  vm.run(30_000);
  vm.sendSipi(1, 0x08);
  vm.run(30_000);
  assert.deepEqual(names(exits), ['0:VMCALL']);
  assert.deepEqual(vm.pendingSignals(1), []);
  assert.equal(vm.sendInit(2), false);
  assert.equal(vm.sendSipi(-1, 8), false);
});

test('INIT and SIPI to an application processor that never ran: it is entered, takes exits 3 and 4, and starts', () => {
  const { vm, exits } = boot(WAIT_FOR_AP_GUEST);
  const entries: number[] = [];
  vm.events.on('entry', (e) => entries.push(e.vcpu));
  vm.sendInit(1);
  vm.sendSipi(1, 0x09);
  const stop = vm.run(100_000);
  assert.equal(stop.reason, 'shutdown');
  assert.deepEqual(names(exits), ['1:INIT_SIGNAL', '1:SIPI_SIGNAL', '1:HLT', '0:VMCALL']);
  assert.equal(exits[1].qualification, 9);
  assert.equal(read32(vm, 0x7000) & 0xffff, 0x0900);
  // vCPU 1's launch, its re-entries after exits 3 and 4, then vCPU 0's launch.
  assert.deepEqual(entries.slice(0, 4), [1, 1, 1, 0]);
});

test('INIT reaches a halted vCPU too: from HLT to wait-for-SIPI, and a SIPI restarts it', () => {
  const { vm, exits } = boot(`
  ${start(1, 'ap', 0x60000, 0x5000)}
bsp:
  pause
  jmp bsp
ap:
  cli
  hlt
  times 0x8000 - 0x1000 - ($ - $$) db 0
  bits 16
  mov word [0x7000], 0xbeef
  cli
  hlt
`);
  vm.run(30_000);
  assert.deepEqual(vm.runState, ['runnable', 'halted']);
  vm.sendInit(1);
  vm.sendSipi(1, 8);
  vm.run(30_000);
  assert.deepEqual(names(exits), ['0:VMCALL', '1:HLT', '1:INIT_SIGNAL', '1:SIPI_SIGNAL', '1:HLT']);
  assert.equal(read32(vm, 0x7000) & 0xffff, 0xbeef);
  assert.deepEqual(vm.runState, ['runnable', 'halted']);
  const v = vm.scheduler.view().vcpus[1];
  assert.ok(v.halted > 0 && v.parked > 0, JSON.stringify(v));
});
