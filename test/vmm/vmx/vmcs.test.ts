// VMREAD/VMWRITE semantics of the VMCS model (SDM Vol. 3 VMREAD/VMWRITE, IA-32 operand size).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Vmcs } from '../../../src/vmm/vmx/vmcs';
import { VMCS_FIELDS } from '../../../src/vmm/vmx/fields';

test('a new VMCS reads zero in every field', () => {
  const v = new Vmcs();
  for (const f of VMCS_FIELDS) {
    assert.deepEqual(v.vmread(f.encoding), { ok: true, value: 0 }, f.name);
    if (f.width === 64) assert.deepEqual(v.vmread(f.encoding | 1), { ok: true, value: 0 }, f.name);
  }
});

test('unsupported encodings fail with VM-instruction error 12 and record it', () => {
  for (const enc of [0x0004, 0x2030, 0x4403, 0x681f, 0x0801, 0x681e | 0x1000, 0x681e | 0x8000, 0x1681e, 0xffffffff]) {
    const v = new Vmcs();
    assert.deepEqual(v.vmread(enc), { ok: false, error: 12 }, `vmread ${enc.toString(16)}`);
    assert.equal(v.get('VM_INSTRUCTION_ERROR'), 12);
    const w = new Vmcs();
    assert.deepEqual(w.vmwrite(enc, 1), { ok: false, error: 12 }, `vmwrite ${enc.toString(16)}`);
    assert.deepEqual(w.vmread(0x4400), { ok: true, value: 12 });
  }
});

test('VMWRITE to an exit-information field fails with error 13 and leaves it unchanged', () => {
  const v = new Vmcs();
  v.set('VM_EXIT_REASON', 30);
  for (const enc of [0x4402, 0x6400, 0x2400, 0x2401, 0x4400, 0x440c, 0x640a]) {
    assert.deepEqual(v.vmwrite(enc, 0x1234), { ok: false, error: 13 }, enc.toString(16));
    assert.equal(v.get('VM_INSTRUCTION_ERROR'), 13);
  }
  assert.deepEqual(v.vmread(0x4402), { ok: true, value: 30 });
  assert.deepEqual(v.vmread(0x6400), { ok: true, value: 0 });
});

test('with IA32_VMX_MISC bit 29 modelled on, exit-information fields are writable', () => {
  const v = new Vmcs({ vmwriteExitInformation: true });
  assert.deepEqual(v.vmwrite(0x6400, 0x03f80000), { ok: true, value: 0x03f80000 });
  assert.deepEqual(v.vmread(0x6400), { ok: true, value: 0x03f80000 });
  assert.deepEqual(v.vmwrite(0x9999, 0), { ok: false, error: 12 }, 'unsupported is still unsupported');
});

test('a failing VMREAD or VMWRITE does not change the operand field; success does not clear the error', () => {
  const v = new Vmcs();
  v.vmwrite(0x681e, 0x7c00);
  v.vmwrite(0x681f, 5);
  assert.deepEqual(v.vmread(0x681e), { ok: true, value: 0x7c00 });
  assert.equal(v.get('VM_INSTRUCTION_ERROR'), 12);
});

test('64-bit fields: full access is bits 31:0 and clears 63:32 on write; high access is bits 63:32', () => {
  const v = new Vmcs();
  assert.ok(v.vmwrite(0x201a, 0xdeadb01e).ok);
  assert.ok(v.vmwrite(0x201b, 0x00000012).ok);
  assert.deepEqual(v.vmread(0x201a), { ok: true, value: 0xdeadb01e });
  assert.deepEqual(v.vmread(0x201b), { ok: true, value: 0x12 });
  assert.equal(v.getBig('EPT_POINTER'), 0x12deadb01en);
  assert.equal(v.get('EPT_POINTER'), 0x12deadb01e);
  // A full write with a 32-bit operand is shorter than the field: bits 63:32 become 0.
  assert.ok(v.vmwrite(0x201a, 0x1000).ok);
  assert.deepEqual(v.vmread(0x201b), { ok: true, value: 0 });
  assert.equal(v.getBig('EPT_POINTER'), 0x1000n);
  // Writing the high half leaves the low half alone.
  v.vmwrite(0x2801, 0xffffffff);
  v.vmwrite(0x2800, 0xffffffff);
  v.vmwrite(0x2801, 0xffffffff);
  assert.equal(v.getBig('VMCS_LINK_POINTER'), 0xffffffffffffffffn);
});

test('values are truncated to the field width; natural width is 32 bits', () => {
  const v = new Vmcs();
  v.vmwrite(0x0802, 0x12345678);
  assert.deepEqual(v.vmread(0x0802), { ok: true, value: 0x5678 }, '16-bit selector');
  v.vmwrite(0x4002, 0x1_8000_0080);
  assert.deepEqual(v.vmread(0x4002), { ok: true, value: 0x80000080 }, '32-bit operand');
  v.vmwrite(0x681e, -1);
  assert.deepEqual(v.vmread(0x681e), { ok: true, value: 0xffffffff }, 'natural width = 32 bits');
  v.set('GUEST_CS_SELECTOR', 0x10008);
  assert.equal(v.get('GUEST_CS_SELECTOR'), 0x0008);
  v.set('GUEST_RIP', 0x1_0000_7c00);
  assert.equal(v.get('GUEST_RIP'), 0x7c00);
  v.set('TSC_OFFSET', -1n);
  assert.equal(v.getBig('TSC_OFFSET'), 0xffffffffffffffffn);
  assert.deepEqual(v.vmread(0x2010), { ok: true, value: 0xffffffff });
});

test('the engine fills read-only fields through set()', () => {
  const v = new Vmcs();
  v.set('VM_EXIT_REASON', 30);
  v.set('EXIT_QUALIFICATION', 0x03f80008);
  v.set('GUEST_PHYSICAL_ADDRESS', 0xfee00000);
  assert.deepEqual(v.vmread(0x4402), { ok: true, value: 30 });
  assert.deepEqual(v.vmread(0x6400), { ok: true, value: 0x03f80008 });
  assert.deepEqual(v.vmread(0x2400), { ok: true, value: 0xfee00000 });
  v.setInstructionError(7);
  assert.deepEqual(v.vmread(0x4400), { ok: true, value: 7 });
});

test('snapshot is plain JSON and restore brings every value back', () => {
  const v = new Vmcs();
  v.vmwrite(0x0802, 0x08);
  v.vmwrite(0x201a, 0x5e);
  v.vmwrite(0x201b, 0x1);
  v.vmwrite(0x681e, 0x7c00);
  v.set('VM_EXIT_REASON', 0x80000021);
  const json = JSON.stringify(v.snapshot());
  const w = new Vmcs();
  w.vmwrite(0x4000, 0x16);
  w.restore(JSON.parse(json));
  assert.deepEqual(w.snapshot(), v.snapshot());
  assert.deepEqual(w.vmread(0x4000), { ok: true, value: 0 }, 'fields not in the source VMCS are zero after restore');
  assert.equal(w.getBig('EPT_POINTER'), 0x10000005en);
  assert.deepEqual(w.vmread(0x4402), { ok: true, value: 0x80000021 });
  assert.throws(() => w.restore({ fields: { NOT_A_FIELD: 1 }, high: {} }), /unknown field 'NOT_A_FIELD'/);
  assert.equal(w.entries().length, VMCS_FIELDS.length);
});
