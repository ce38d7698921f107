// Control-bit tables against the Linux masks (vmx-facts §3, asm/vmx.h values).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTROL_SETS, controlMask, controlSet, decodeControls, encodeControls } from '../../../src/vmm/vmx/controls';
import { VMCS } from '../../../src/vmm/vmx/fields';

test('masks equal the Linux asm/vmx.h constants', () => {
  const expected: [Parameters<typeof controlMask>[0], string, number][] = [
    ['pin', 'INTR_EXITING', 0x00000001], ['pin', 'NMI_EXITING', 0x00000008], ['pin', 'VIRTUAL_NMIS', 0x00000020],
    ['pin', 'PREEMPTION_TIMER', 0x00000040], ['pin', 'POSTED_INTR', 0x00000080],
    ['primary', 'INTR_WINDOW_EXITING', 0x00000004], ['primary', 'HLT_EXITING', 0x00000080], ['primary', 'INVLPG_EXITING', 0x00000200],
    ['primary', 'RDTSC_EXITING', 0x00001000], ['primary', 'CR3_LOAD_EXITING', 0x00008000], ['primary', 'CR3_STORE_EXITING', 0x00010000],
    ['primary', 'VIRTUAL_TPR', 0x00200000], ['primary', 'NMI_WINDOW_EXITING', 0x00400000], ['primary', 'MOV_DR_EXITING', 0x00800000],
    ['primary', 'UNCOND_IO_EXITING', 0x01000000], ['primary', 'USE_IO_BITMAPS', 0x02000000], ['primary', 'MONITOR_TRAP_FLAG', 0x08000000],
    ['primary', 'USE_MSR_BITMAPS', 0x10000000], ['primary', 'PAUSE_EXITING', 0x40000000], ['primary', 'SEC_CONTROLS', 0x80000000],
    ['secondary', 'VIRT_APIC_ACCESSES', 0x1], ['secondary', 'EPT', 0x2], ['secondary', 'DESC_EXITING', 0x4], ['secondary', 'VPID', 0x20],
    ['secondary', 'UNRESTRICTED_GUEST', 0x80], ['secondary', 'SHADOW_VMCS', 0x4000], ['secondary', 'PAGE_MOD_LOGGING', 0x20000],
    ['secondary', 'MODE_BASED_EPT_EXEC', 0x400000], ['secondary', 'TSC_SCALING', 0x2000000],
    ['tertiary', 'IPI_VIRT', 0x10],
    ['exit', 'VM_EXIT_SAVE_DEBUG_CONTROLS', 0x4], ['exit', 'VM_EXIT_HOST_ADDR_SPACE_SIZE', 0x200], ['exit', 'VM_EXIT_ACK_INTR_ON_EXIT', 0x8000],
    ['exit', 'VM_EXIT_LOAD_IA32_EFER', 0x200000], ['exit', 'VM_EXIT_SAVE_VMX_PREEMPTION_TIMER', 0x400000], ['exit', 'VM_EXIT_CLEAR_IA32_RTIT_CTL', 0x2000000],
    ['entry', 'VM_ENTRY_LOAD_DEBUG_CONTROLS', 0x4], ['entry', 'VM_ENTRY_IA32E_MODE', 0x200], ['entry', 'VM_ENTRY_SMM', 0x400],
    ['entry', 'VM_ENTRY_LOAD_IA32_EFER', 0x8000], ['entry', 'VM_ENTRY_LOAD_IA32_RTIT_CTL', 0x40000],
  ];
  for (const [set, name, mask] of expected) assert.equal(controlMask(set, name), mask, `${set} ${name}`);
});

test('each set lives in its VMCS field and has unique bits and names', () => {
  const fields: Record<string, number> = { pin: 0x4000, primary: 0x4002, secondary: 0x401e, tertiary: 0x2034, exit: 0x400c, entry: 0x4012 };
  for (const s of CONTROL_SETS) {
    assert.equal(VMCS[s.field], fields[s.id], s.id);
    assert.equal(new Set(s.controls.map((c) => c.bit)).size, s.controls.length, `${s.id} bits unique`);
    assert.equal(new Set(s.controls.map((c) => c.name)).size, s.controls.length, `${s.id} names unique`);
    for (const c of s.controls) assert.ok(c.bit >= 0 && c.bit < s.bits, `${s.id} ${c.name}`);
  }
  assert.equal(controlSet('tertiary').bits, 64);
});

test('default1 classes (SDM appendix A)', () => {
  // pin: bits 1, 2, 4; primary: 1, 4-6, 8, 13-16, 26; exit: 0-8, 10, 11, 13, 14, 16, 17; entry: 0-8, 12.
  const mask = (bits: number[]) => bits.reduce((m, b) => (m | (1 << b)) >>> 0, 0);
  assert.equal(controlSet('pin').default1, mask([1, 2, 4]));
  assert.equal(controlSet('primary').default1, mask([1, 4, 5, 6, 8, 13, 14, 15, 16, 26]));
  assert.equal(controlSet('exit').default1, mask([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 13, 14, 16, 17]));
  assert.equal(controlSet('entry').default1, mask([0, 1, 2, 3, 4, 5, 6, 7, 8, 12]));
  assert.equal(controlSet('secondary').default1, 0);
});

test('decodeControls names the set bits and separates default1 and unknown bits', () => {
  const d = decodeControls('primary', 0x0401e172 | 0x80 | 0x02000000 | 0x80000000);
  assert.deepEqual(d.set.map((c) => c.name), ['HLT_EXITING', 'CR3_LOAD_EXITING', 'CR3_STORE_EXITING', 'USE_IO_BITMAPS', 'SEC_CONTROLS']);
  assert.deepEqual(d.default1Set, [1, 4, 5, 6, 8, 13, 14, 15, 16, 26]);
  assert.deepEqual(d.default1Clear, []);
  assert.deepEqual(d.unknownBits, []);
  assert.equal(d.summary, 'HLT_EXITING | CR3_LOAD_EXITING | CR3_STORE_EXITING | USE_IO_BITMAPS | SEC_CONTROLS');
  const pin = decodeControls('pin', 0x9);
  assert.deepEqual(pin.set.map((c) => c.name), ['INTR_EXITING', 'NMI_EXITING']);
  assert.deepEqual(pin.default1Clear, [1, 2, 4]);
  assert.deepEqual(decodeControls('secondary', 1 << 29).unknownBits, [29]);
  assert.equal(decodeControls('secondary', 0).summary, 'none');
  assert.equal(decodeControls('secondary', 0x2).summary, 'EPT');
  assert.deepEqual(decodeControls('tertiary', 0x10).set.map((c) => c.name), ['IPI_VIRT']);
});

test('encodeControls builds a control word from names', () => {
  assert.equal(encodeControls('pin', ['NMI_EXITING', 'VIRTUAL_NMIS']), 0x16 | 0x8 | 0x20);
  assert.equal(encodeControls('primary', ['HLT_EXITING', 'UNCOND_IO_EXITING'], false), 0x01000080);
  assert.equal(encodeControls('entry', []), 0x11ff);
  assert.throws(() => encodeControls('pin', ['HLT_EXITING']), /no control 'HLT_EXITING'/);
});
