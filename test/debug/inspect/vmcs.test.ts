import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vmcsNodes, takeStopSnapshot, evaluateCommand } from '../../../src/debug/inspect/index';
import { at, child, kids, runTo, vmOf, HEXFMT, DECFMT } from './helpers';

const IO_GUEST = 'mov dx, 0x3f8\n mov al, 0x41\n out dx, al\n nop\n nop\n hlt\n';

test('VMCS groups follow the SDM, fields carry their encodings', () => {
  const { vm } = runTo('hlt\n');
  const groups = vmcsNodes(vm, 0, HEXFMT);
  assert.deepEqual(groups.map((g) => g.name), [
    'guest-state area', 'host-state area', 'VM-execution control fields', 'VM-exit control fields', 'VM-entry control fields', 'VM-exit information fields', 'VM-entry checks',
  ]);
  const guest = kids(child(groups, 'guest-state area'));
  const rip = guest.find((n) => n.name === 'GUEST_RIP (0x681E)');
  assert.ok(rip, 'GUEST_RIP (0x681E) is in the guest-state area');
  assert.equal(rip.value, `0x${vm.vcpus[0].vmcs.get('GUEST_RIP').toString(16).toUpperCase().padStart(8, '0')}`);
  assert.equal(rip.evaluateName, 'vmcs GUEST_RIP');
  assert.ok(!kids(child(groups, 'host-state area')).some((n) => n.name.startsWith('GUEST_')));
  // Widths: 16-bit selectors 4 digits, 64-bit fields 16.
  assert.equal(child(guest, 'GUEST_CS_SELECTOR').value, '0x0008');
  assert.equal(child(guest, 'VMCS_LINK_POINTER').value, '0xFFFFFFFFFFFFFFFF');
  assert.equal(child(guest, 'VMCS_LINK_POINTER').name, 'VMCS_LINK_POINTER (0x2800)');
  assert.equal(child(groups, 'VM-entry checks').value, 'the next VM entry passes the checks');
});

test('control words have named bit children with bit numbers, access and default1 bits', () => {
  const { vm } = runTo('hlt\n');
  const pin = at(vmcsNodes(vm, 0, HEXFMT), 'VM-execution control fields', 'PIN_BASED_VM_EXEC_CONTROL');
  assert.equal(pin.name, 'PIN_BASED_VM_EXEC_CONTROL (0x4000)');
  const bits = kids(pin);
  assert.equal(bits[0].name, 'INTR_EXITING');
  assert.equal(bits[0].value, '1');
  assert.match(bits[0].type ?? '', /^bit 0, read-write — VM exit on external interrupts/);
  const d1 = child(bits, 'bit 1 (default1)');
  assert.equal(d1.value, '1');
  assert.match(d1.type ?? '', /reserved/);
  assert.equal(d1.set, undefined);
  assert.equal(child(bits, 'PREEMPTION_TIMER').value, '0');
  const primary = kids(at(vmcsNodes(vm, 0, HEXFMT), 'VM-execution control fields', 'CPU_BASED_VM_EXEC_CONTROL'));
  assert.equal(child(primary, 'HLT_EXITING').value, '1');
  assert.match(child(primary, 'HLT_EXITING').type ?? '', /bit 7/);
});

test('exit qualification decoded for the last exit; interruption information decoded', () => {
  const vm = vmOf(IO_GUEST);
  assert.equal(vm.run(3).reason, 'limit');
  const info = kids(child(vmcsNodes(vm, 0, HEXFMT), 'VM-exit information fields'));
  const q = child(info, 'EXIT_QUALIFICATION');
  assert.match(q.value, /OUT DX, AL → port 0x3F8, 1 byte/);
  const qk = kids(q);
  assert.equal(child(qk, 'for exit reason').value, 'IO_INSTRUCTION (30)');
  assert.equal(child(qk, 'port').value, '0x000003F8');
  assert.equal(child(qk, 'direction').value, 'out');
  assert.equal(child(qk, 'size').value, '1');
  const reason = kids(child(info, 'VM_EXIT_REASON'));
  assert.equal(child(reason, 'basic exit reason').value, '0x001E (IO_INSTRUCTION)');
  const vmEntry = kids(child(kids(child(vmcsNodes(vm, 0, HEXFMT), 'VM-entry control fields')), 'VM_ENTRY_INTR_INFO_FIELD'));
  vm.vcpus[0].inject(14, 3, 2);
  const after = kids(child(kids(child(vmcsNodes(vm, 0, HEXFMT), 'VM-entry control fields')), 'VM_ENTRY_INTR_INFO_FIELD'));
  assert.equal(child(vmEntry, 'valid').value, '0');
  assert.equal(child(after, 'vector').value, '0x0E (#PF)');
  assert.equal(child(after, 'type').value, '3 (hardware exception)');
  assert.equal(child(after, 'deliver error code').value, '1');
  assert.equal(child(after, 'summary').value, 'hardware exception, vector 14 (#PF), error code valid');
});

test('changed marks on VMCS fields between two stops', () => {
  const vm = vmOf(IO_GUEST);
  vm.run(1);
  const prev = takeStopSnapshot(vm, 0);
  vm.run(100);
  const groups = vmcsNodes(vm, 0, HEXFMT, prev);
  const guest = kids(child(groups, 'guest-state area'));
  assert.equal(child(guest, 'GUEST_RIP').changed, true);
  assert.equal(child(guest, 'GUEST_CS_SELECTOR').changed, undefined);
  assert.equal(child(groups, 'guest-state area').changed, true);
  assert.equal(child(groups, 'host-state area').changed, undefined);
  const reason = child(kids(child(groups, 'VM-exit information fields')), 'VM_EXIT_REASON');
  assert.equal(reason.changed, true);
  assert.equal(child(kids(reason), 'basic exit reason').changed, true);
});

test('editing VMCS fields: VMWRITE semantics and the note about the next entry', () => {
  const { vm } = runTo('hlt\n');
  const v = vm.vcpus[0].vmcs;
  const bitmap = at(vmcsNodes(vm, 0, HEXFMT), 'VM-execution control fields', 'EXCEPTION_BITMAP');
  assert.equal(bitmap.set?.('0x4000'), '0x00004000');
  assert.equal(v.get('EXCEPTION_BITMAP'), 0x4000);
  // One control bit through its child.
  const hlt = child(kids(at(vmcsNodes(vm, 0, HEXFMT), 'VM-execution control fields', 'CPU_BASED_VM_EXEC_CONTROL')), 'HLT_EXITING');
  assert.equal(hlt.set?.('0'), '0');
  assert.equal(v.get('CPU_BASED_VM_EXEC_CONTROL') & 0x80, 0);
  // 64-bit field: both halves.
  const tsc = at(vmcsNodes(vm, 0, HEXFMT), 'VM-execution control fields', 'TSC_OFFSET');
  assert.equal(tsc.set?.('0x123456789'), '0x0000000123456789');
  assert.equal(v.getBig('TSC_OFFSET'), 0x123456789n);
  const r = evaluateCommand(vm, 0, 'vmcs GUEST_RFLAGS = 0x2', HEXFMT);
  assert.match(r.result, /VMWRITE GUEST_RFLAGS \(0x6820\) = 0x00000002/);
  assert.match(r.result, /loaded into the CPU at the next VM entry/);
  assert.match(r.result, /checks .* pass/);
  const bad = evaluateCommand(vm, 0, 'vmcs GUEST_RFLAGS 0', HEXFMT);
  assert.match(bad.result, /would fail: .*RFLAGS/);
  const ctl = evaluateCommand(vm, 0, 'vmcs 0x4004 = 0x80000000', HEXFMT);
  assert.match(ctl.result, /It takes effect at the next VM entry/);
});

test('read-only exit-information fields refuse with VM-instruction error 13', () => {
  const { vm } = runTo('hlt\n');
  const v = vm.vcpus[0].vmcs;
  const before = v.get('VM_INSTRUCTION_ERROR');
  const reason = at(vmcsNodes(vm, 0, HEXFMT), 'VM-exit information fields', 'VM_EXIT_REASON');
  assert.deepEqual(reason.hint?.attributes, ['readOnly']);
  assert.match(reason.readOnlyReason ?? '', /error 13/);
  assert.throws(() => reason.set?.('1'), /VM-instruction error 13: VMWRITE to read-only VMCS component/);
  assert.equal(v.get('VM_EXIT_REASON'), 12, 'unchanged');
  assert.equal(v.get('VM_INSTRUCTION_ERROR'), before, 'the debugger does not record an instruction error');
  assert.throws(() => evaluateCommand(vm, 0, 'vmcs EXIT_QUALIFICATION = 5', HEXFMT), /error 13/);
  assert.throws(() => at(vmcsNodes(vm, 0, HEXFMT), 'guest-state area', 'GUEST_CS_SELECTOR').set?.('0x10000'), /does not fit/);
});

test('decimal format applies to VMCS values', () => {
  const { vm } = runTo('hlt\n');
  assert.equal(at(vmcsNodes(vm, 0, DECFMT), 'guest-state area', 'GUEST_CS_SELECTOR').value, '8');
});
