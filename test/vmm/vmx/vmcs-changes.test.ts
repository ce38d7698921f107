// VMCS change tracking (what lets a VM entry re-run only the checks whose
// fields changed) and the exit path's unsigned 32-bit store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Vmcs, VMCS, vmcsSlot } from '../../../src/vmm/vmx/index';

const RIP = vmcsSlot('GUEST_RIP');
const RSP = vmcsSlot('GUEST_RSP');
const CS_SELECTOR = vmcsSlot('GUEST_CS_SELECTOR');

test('takeChanges: everything after a reset, then the fields whose value differs from the last call', () => {
  const v = new Vmcs();
  assert.equal(v.takeChanges(), 'all');
  assert.deepEqual(v.takeChanges(), []);
  v.set('GUEST_RIP', 0x1000);
  v.set('GUEST_RSP', 0x8000);
  assert.deepEqual([...(v.takeChanges() as number[])].sort((a, b) => a - b), [RIP, RSP].sort((a, b) => a - b));
  assert.deepEqual(v.takeChanges(), []);
});

test('takeChanges: a field written and written back (an exit stores RIP, the handler moves it on) is not a change', () => {
  const v = new Vmcs();
  v.set('GUEST_RIP', 0x1002);
  v.takeChanges();
  v.setAt(RIP, 0x1000);
  v.setAt(RIP, 0x1002);
  v.setU32At(RSP, 0);
  assert.deepEqual(v.takeChanges(), []);
  v.setAt(RIP, 0x1000);
  v.setAt(RIP, 0x1004);
  assert.deepEqual(v.takeChanges(), [RIP]);
});

test('takeChanges sees VMWRITE, the high half of a 64-bit field, and the instruction error', () => {
  const v = new Vmcs();
  v.takeChanges();
  assert.ok(v.vmwrite(VMCS.GUEST_RIP, 0x2000).ok);
  assert.deepEqual(v.takeChanges(), [RIP]);
  assert.ok(v.vmwrite(VMCS.VMCS_LINK_POINTER + 1, 0xffffffff).ok);
  assert.deepEqual(v.takeChanges(), [vmcsSlot('VMCS_LINK_POINTER')]);
  v.setInstructionError(7);
  assert.deepEqual(v.takeChanges(), [vmcsSlot('VM_INSTRUCTION_ERROR')]);
  v.restore(v.snapshot());
  assert.equal(v.takeChanges(), 'all');
});

test('setU32At truncates to the field width and clears the high half, as setAt does', () => {
  const a = new Vmcs();
  const b = new Vmcs();
  a.setU32At(CS_SELECTOR, 0x12345);
  b.setAt(CS_SELECTOR, 0x12345);
  assert.equal(a.get('GUEST_CS_SELECTOR'), 0x2345);
  assert.equal(b.get('GUEST_CS_SELECTOR'), 0x2345);
  const link = vmcsSlot('VMCS_LINK_POINTER');
  a.set('VMCS_LINK_POINTER', 0xffffffffffffffffn);
  a.setU32At(link, 0xfffff000);
  assert.equal(a.getBig('VMCS_LINK_POINTER'), 0xfffff000n);
  a.setU32At(RIP, 0xffffffff);
  assert.equal(a.get('GUEST_RIP'), 0xffffffff);
});
