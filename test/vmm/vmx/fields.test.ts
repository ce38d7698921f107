// VMCS field table: encodings against vmx-facts §2 / SDM Appendix B, and every
// row against the bits of its own encoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { VMCS_FIELDS, VMCS, GROUP_TYPE, fieldByEncoding, fieldByName, resolveAccess } from '../../../src/vmm/vmx/fields';
import { decodeEncoding, makeEncoding } from '../../../src/vmm/vmx/encoding';

const REFERENCE = '../shared/reference/vmx-facts.md';

test('sample encodings are the SDM numbers', () => {
  const expected: [keyof typeof VMCS, number][] = [
    ['VIRTUAL_PROCESSOR_ID', 0x0000], ['GUEST_CS_SELECTOR', 0x0802], ['HOST_TR_SELECTOR', 0x0c0c],
    ['IO_BITMAP_A', 0x2000], ['IO_BITMAP_B', 0x2002], ['MSR_BITMAP', 0x2004], ['EPT_POINTER', 0x201a], ['TSC_OFFSET', 0x2010],
    ['GUEST_PHYSICAL_ADDRESS', 0x2400], ['VMCS_LINK_POINTER', 0x2800], ['HOST_IA32_EFER', 0x2c02],
    ['PIN_BASED_VM_EXEC_CONTROL', 0x4000], ['CPU_BASED_VM_EXEC_CONTROL', 0x4002], ['EXCEPTION_BITMAP', 0x4004],
    ['VM_EXIT_CONTROLS', 0x400c], ['VM_ENTRY_CONTROLS', 0x4012], ['VM_ENTRY_INTR_INFO_FIELD', 0x4016], ['SECONDARY_VM_EXEC_CONTROL', 0x401e],
    ['VM_INSTRUCTION_ERROR', 0x4400], ['VM_EXIT_REASON', 0x4402], ['VM_EXIT_INTR_INFO', 0x4404], ['VM_EXIT_INSTRUCTION_LEN', 0x440c],
    ['GUEST_ES_LIMIT', 0x4800], ['GUEST_INTERRUPTIBILITY_INFO', 0x4824], ['GUEST_ACTIVITY_STATE', 0x4826], ['VMX_PREEMPTION_TIMER_VALUE', 0x482e],
    ['HOST_IA32_SYSENTER_CS', 0x4c00], ['CR0_GUEST_HOST_MASK', 0x6000], ['CR0_READ_SHADOW', 0x6004], ['CR3_TARGET_VALUE3', 0x600e],
    ['EXIT_QUALIFICATION', 0x6400], ['GUEST_LINEAR_ADDRESS', 0x640a], ['GUEST_CR0', 0x6800], ['GUEST_CR3', 0x6802],
    ['GUEST_RSP', 0x681c], ['GUEST_RIP', 0x681e], ['GUEST_RFLAGS', 0x6820], ['HOST_CR3', 0x6c02], ['HOST_RSP', 0x6c14], ['HOST_RIP', 0x6c16],
  ];
  for (const [name, enc] of expected) assert.equal(VMCS[name], enc, name);
});

test('decodeEncoding splits the SDM bit fields (hand-decoded values)', () => {
  // 0x681E = 0b110_1000_0001_1110: width 3 (natural), type 2 (guest), index 15.
  assert.deepEqual(decodeEncoding(0x681e), { high: false, index: 15, type: 'guest-state', width: 'natural', reservedBitsClear: true });
  // 0x4402: width 2 (32), type 1 (exit information), index 1.
  assert.deepEqual(decodeEncoding(0x4402), { high: false, index: 1, type: 'exit-information', width: 32, reservedBitsClear: true });
  // 0x201B: EPT_POINTER high: width 1 (64), control, index 13, access type high.
  assert.deepEqual(decodeEncoding(0x201b), { high: true, index: 13, type: 'control', width: 64, reservedBitsClear: true });
  // 0x0C0C: 16-bit host state, index 6.
  assert.deepEqual(decodeEncoding(0x0c0c), { high: false, index: 6, type: 'host-state', width: 16, reservedBitsClear: true });
  assert.equal(decodeEncoding(0x1000).reservedBitsClear, false, 'bit 12 is reserved');
  assert.equal(decodeEncoding(0x8000).reservedBitsClear, false, 'bit 15 is reserved');
  assert.equal(decodeEncoding(0x10000).reservedBitsClear, false, 'bits 31:16 are reserved');
  assert.equal(makeEncoding('natural', 'guest-state', 15), 0x681e);
  assert.equal(makeEncoding(64, 'control', 13, true), 0x201b);
});

test('every row agrees with its own encoding bits', () => {
  for (const f of VMCS_FIELDS) {
    const d = decodeEncoding(f.encoding);
    assert.equal(d.high, false, `${f.name}: a table row is the full access (bit 0 clear)`);
    assert.ok(d.reservedBitsClear, `${f.name}: reserved encoding bits set`);
    assert.equal(d.width, f.width, `${f.name}: declared width ${f.width}, encoding says ${d.width}`);
    assert.equal(d.type, f.type, `${f.name}: group ${f.group} implies ${f.type}, encoding says ${d.type}`);
    assert.equal(GROUP_TYPE[f.group], d.type, f.name);
    assert.equal(f.readOnly, d.type === 'exit-information', f.name);
    assert.equal(makeEncoding(d.width, d.type, d.index), f.encoding, f.name);
  }
});

test('names and encodings are unique; lookups agree', () => {
  assert.equal(new Set(VMCS_FIELDS.map((f) => f.name)).size, VMCS_FIELDS.length);
  assert.equal(new Set(VMCS_FIELDS.map((f) => f.encoding)).size, VMCS_FIELDS.length);
  for (const f of VMCS_FIELDS) {
    assert.equal(fieldByEncoding(f.encoding), f);
    assert.equal(fieldByName(f.name.toLowerCase()), f);
  }
  assert.equal(VMCS_FIELDS.filter((f) => f.source === 'linux').length, 153, 'the Linux 6.12 enum has 153 fields');
});

test('SDM groups split the control fields', () => {
  const group = (n: keyof typeof VMCS) => fieldByEncoding(VMCS[n])!.group;
  assert.equal(group('PIN_BASED_VM_EXEC_CONTROL'), 'execution-control');
  assert.equal(group('EPT_POINTER'), 'execution-control');
  assert.equal(group('CR3_TARGET_VALUE0'), 'execution-control');
  assert.equal(group('VM_EXIT_CONTROLS'), 'exit-control');
  assert.equal(group('VM_EXIT_MSR_STORE_ADDR'), 'exit-control');
  assert.equal(group('VM_ENTRY_CONTROLS'), 'entry-control');
  assert.equal(group('VM_ENTRY_INTR_INFO_FIELD'), 'entry-control');
  assert.equal(group('VM_ENTRY_MSR_LOAD_ADDR'), 'entry-control');
  assert.equal(group('VM_EXIT_REASON'), 'exit-information');
  assert.equal(group('VMCS_LINK_POINTER'), 'guest-state');
  assert.equal(group('HOST_RIP'), 'host-state');
});

test('resolveAccess: full and high halves, unsupported encodings', () => {
  assert.deepEqual(resolveAccess(0x201a), { field: fieldByName('EPT_POINTER'), high: false });
  assert.deepEqual(resolveAccess(0x201b), { field: fieldByName('EPT_POINTER'), high: true });
  assert.equal(resolveAccess(0x4403), undefined, 'no high half of a 32-bit field');
  assert.equal(resolveAccess(0x681f), undefined, 'no high half of a natural-width field');
  assert.equal(resolveAccess(0x0004), undefined, 'EPTP index is not supported');
  assert.equal(resolveAccess(0x681e | 0x1000), undefined);
  assert.equal(resolveAccess(0x681e + 0x10000), undefined);
});

test('every field of the reference tables is present with its encoding, width and type', { skip: !existsSync(REFERENCE) && 'shared reference not beside the repository' }, () => {
  const text = readFileSync(REFERENCE, 'utf8');
  const bochsAt = text.indexOf('### Encodings Bochs defines');
  const section = text.slice(text.indexOf('## 2.'), text.indexOf('## 3.'));
  const bochsFrom = bochsAt - text.indexOf('## 2.');
  const rowRe = /^\| (\w+) \| 0x([0-9a-f]{8}) \| (16|32|64|nat) \| (control|exit-info|guest|host) \|$/gm;
  const types: Record<string, string> = { control: 'control', 'exit-info': 'exit-information', guest: 'guest-state', host: 'host-state' };
  let linux = 0;
  for (let m = rowRe.exec(section); m; m = rowRe.exec(section)) {
    const [, refName, encHex, width, type] = m;
    const enc = parseInt(encHex, 16);
    if (m.index > bochsFrom) {
      // Bochs-only names: where we support the encoding, it must decode the same.
      const ours = fieldByEncoding(enc);
      if (ours) assert.equal(ours.type, types[type], refName);
      continue;
    }
    linux++;
    const f = fieldByName(refName);
    assert.ok(f, `${refName} missing`);
    assert.equal(f.encoding, enc, refName);
    assert.equal(String(f.width), width === 'nat' ? 'natural' : width, refName);
    assert.equal(f.type, types[type], refName);
  }
  assert.equal(linux, 153);
});
