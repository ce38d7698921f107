import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interruptNodes, deviceNodes, evaluateCommand } from '../../../src/debug/inspect/index';
import { IDT } from '../../vmm/vtx/guest';
import { at, child, kids, runTo, vmOf, HEXFMT } from './helpers';

// PICs remapped to 0x20/0x28 with only IRQ 0 unmasked, PIT channel 0 in mode 2
// (count 1000), interrupts on; the timer handler counts at 0x5000 and halts
// with IF clear, so the VM stops inside the first tick with IRQ 0 in service.
export const TIMER = `
  lidt [idtr]
  mov al, 0x11
  out 0x20, al
  out 0xA0, al
  mov al, 0x20
  out 0x21, al
  mov al, 0x28
  out 0xA1, al
  mov al, 4
  out 0x21, al
  mov al, 2
  out 0xA1, al
  mov al, 1
  out 0x21, al
  out 0xA1, al
  mov al, 0xFE
  out 0x21, al
  mov al, 0xFF
  out 0xA1, al
  mov al, 0x34
  out 0x43, al
  mov al, 0xE8
  out 0x40, al
  mov al, 0x03
  out 0x40, al
  sti
idle:
  hlt
  jmp idle
timer:
  inc dword [0x5000]
  hlt
idtr:
  dw 0x21*8-1
  dd idt
align 8
idt:
  times 0x20 dq 0
  dw timer, 0x08, 0x8E00, 0
`;

test('after a timer tick: PIC ISR, vector base, IMR; pending-event state', () => {
  const { vm, stop } = runTo(TIMER, 2_000_000);
  assert.equal(stop.reason, 'hlt', stop.message);
  assert.equal(vm.machine.memory.read32(0x5000), 1, 'one tick handled');
  const nodes = interruptNodes(vm, 0, HEXFMT);
  const master = at(nodes, 'PIC', 'master (0x20)');
  const m = kids(master);
  assert.equal(child(m, 'ISR').value, '0x01 (IRQ0)');
  assert.equal(child(m, 'IMR').value, '0xFE (IRQ1, IRQ2, IRQ3, IRQ4, IRQ5, IRQ6, IRQ7)');
  assert.equal(child(m, 'vector base').value, '0x20');
  assert.equal(child(m, 'initialization').value, 'done');
  assert.equal(child(kids(child(m, 'ISR')), 'IR0').value, '1');
  const slave = kids(at(nodes, 'PIC', 'slave (0xA0)'));
  assert.equal(child(slave, 'vector base').value, '0x28');
  const pending = kids(child(nodes, 'Pending events'));
  assert.equal(child(pending, 'RFLAGS.IF').value, '0');
  assert.equal(child(pending, 'queue').value, 'empty');
  assert.match(child(pending, 'activity state').value, /HLT|active/);
  const idt = kids(child(nodes, 'IDT_VECTORING_INFO_FIELD'));
  assert.equal(child(idt, 'valid').value, '0');
  const apic = child(nodes, 'Local APIC');
  assert.match(apic.value, /^ID 0, software-disabled/);
  const lvt = kids(child(kids(apic), 'LVT'));
  assert.deepEqual(lvt.map((n) => n.name), ['timer', 'thermal', 'performance counter', 'LINT0', 'LINT1', 'error']);
  assert.equal(child(kids(child(lvt, 'LINT0')), 'mask').value, '1 (masked)');
  // The PIT in the devices view: channel 0 as programmed.
  const ch0 = kids(at(deviceNodes(vm, HEXFMT), 'PIT', 'channel 0'));
  assert.equal(child(ch0, 'mode').value, '2 (rate generator)');
  assert.equal(child(ch0, 'reload count').value, '0x03E8');
  assert.match(child(ch0, 'control').type ?? '', /LSB then MSB, binary/);
});

test('inject queues events and refuses invalid combinations', () => {
  const vm = vmOf('nop\n hlt\n');
  vm.run(1);
  assert.match(evaluateCommand(vm, 0, 'inject 0x30', HEXFMT).result, /queued external interrupt vector 0x30 for vCPU 0; .*RFLAGS.IF = 1/);
  assert.match(evaluateCommand(vm, 0, 'inject 2', HEXFMT).result, /queued NMI vector 0x02/);
  assert.match(evaluateCommand(vm, 0, 'inject 13', HEXFMT).result, /hardware exception vector 0x0D \(#GP\) error code 0x00000000/);
  assert.match(evaluateCommand(vm, 0, 'inject 3 software-exception', HEXFMT).result, /return address is RIP \+ 1/);
  const pending = kids(child(interruptNodes(vm, 0, HEXFMT), 'Pending events'));
  const queue = kids(child(pending, 'queue'));
  assert.deepEqual(queue.map((q) => q.value), ['external interrupt vector 0x30', 'hardware exception vector 0x0D error code 0x00000000', 'software exception vector 0x03']);
  assert.match(queue[0].type ?? '', /debugger/);
  assert.equal(child(pending, 'virtual NMI pending').value, '1');
  const bad: [string, RegExp][] = [
    ['inject', /usage/],
    ['inject 300', /not 0-255/],
    ['inject 2 external 5', /only hardware exceptions push an error code/],
    ['inject 6 hardware 1', /pushes no error code/],
    ['inject 13 hardware 0x10000', /bits 31:16/],
    ['inject 40 hardware', /below 32/],
    ['inject 5 nmi', /vector 2/],
    ['inject 5 software-exception', /INT3 .* or INTO/],
    ['inject 3 privileged', /INT1, vector 1/],
    ['inject 3 7', /cannot be injected/],
    ['inject 3 weird', /unknown type 'weird'/],
  ];
  for (const [line, re] of bad) assert.throws(() => evaluateCommand(vm, 0, line, HEXFMT), re, line);
});

test('an injected exception reaches the guest at the next VM entry', () => {
  const vm = vmOf(`call setup_idt\n nop\nspin:\n jmp spin\n${IDT}`);
  assert.equal(vm.run(2000).reason, 'limit');
  assert.notEqual(vm.vcpus[0].cpu.idtr.base, 0, 'the IDT is loaded');
  evaluateCommand(vm, 0, 'inject 13 hardware 0', HEXFMT);
  const stop = vm.run(10000);
  assert.equal(stop.reason, 'shutdown', stop.message);
  assert.equal(stop.code, 0x100 + 13, 'the #GP stub ran');
});
