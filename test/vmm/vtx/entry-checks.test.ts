// VM-entry checks (SDM Vol. 3C, "VM Entries"): one broken VMCS field per check,
// the outcome each SDM list prescribes (VMfailValid 7 / 8, exit 33 with bit 31),
// and failed entries at launch and in the middle of a run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGuest, build } from './guest';
import { createVm, type VmExit } from '../../../src/vmm/vtx/index';
import type { Vcpu } from '../../../src/vmm/vtx/index';
import type { Vmcs, VmcsFieldName } from '../../../src/vmm/vmx';
import { checkVmEntry, entryCheckFailures, ENTRY_CHECKS } from '../../../src/vmm/vtx/entry-checks';

const SHUTDOWN = '  mov eax, 3\n  mov ebx, 0\n  vmcall\n';

function defaultVcpu(mode: 'flat32' | 'real' = 'flat32'): Vcpu {
  return createVm({ image: build(SHUTDOWN, mode === 'real' ? 16 : 32, mode === 'real' ? 0x7c00 : 0x1000), mode }).vcpus[0];
}

/** Unrestricted guest off, and paging on so that CR0 keeps its fixed bits. */
function restricted(v: Vcpu): void {
  v.setControl('secondary', 'UNRESTRICTED_GUEST', false);
  v.vmcs.set('GUEST_CR0', 0xe0000011);
}

type Outcome = 7 | 8 | 33;
/** name, how to break the default VMCS, check id, outcome, field named, its value as printed, qualification (exit 33). */
type Case = [string, (v: Vcpu, m: Vmcs) => void, string, Outcome, VmcsFieldName, string, number?];

const CASES: Case[] = [
  // VM-execution, VM-exit and VM-entry control fields: VM-instruction error 7.
  ['pin default1 bit 2 cleared', (_, m) => m.set('PIN_BASED_VM_EXEC_CONTROL', 0x12), 'pin-reserved-default1', 7, 'PIN_BASED_VM_EXEC_CONTROL', '0x12'],
  ['pin reserved bit 8 set', (_, m) => m.set('PIN_BASED_VM_EXEC_CONTROL', 0x116), 'pin-reserved-zero', 7, 'PIN_BASED_VM_EXEC_CONTROL', '0x116'],
  ['primary default1 bit 1 cleared', (_, m) => m.set('CPU_BASED_VM_EXEC_CONTROL', 0x9601e1f8), 'primary-reserved-default1', 7, 'CPU_BASED_VM_EXEC_CONTROL', '0x9601E1F8'],
  ['primary reserved bit 0 set', (_, m) => m.set('CPU_BASED_VM_EXEC_CONTROL', 0x9601e1fb), 'primary-reserved-zero', 7, 'CPU_BASED_VM_EXEC_CONTROL', '0x9601E1FB'],
  ['secondary reserved bit 21 set', (_, m) => m.set('SECONDARY_VM_EXEC_CONTROL', 0x200088), 'secondary-reserved-zero', 7, 'SECONDARY_VM_EXEC_CONTROL', '0x200088'],
  ['tertiary reserved bit 5 set', (_, m) => { m.set('CPU_BASED_VM_EXEC_CONTROL', 0x9603e1fa); m.set('TERTIARY_VM_EXEC_CONTROL', 0x20); }, 'tertiary-reserved-zero', 7, 'TERTIARY_VM_EXEC_CONTROL', '0x20'],
  ['tertiary bit 32 set', (_, m) => { m.set('CPU_BASED_VM_EXEC_CONTROL', 0x9603e1fa); m.set('TERTIARY_VM_EXEC_CONTROL', 0x100000000n); }, 'tertiary-reserved-zero', 7, 'TERTIARY_VM_EXEC_CONTROL', '0x100000000'],
  ['VM-exit MSR-store address not 16-byte aligned', (_, m) => { m.set('VM_EXIT_MSR_STORE_COUNT', 2); m.set('VM_EXIT_MSR_STORE_ADDR', 0x2004); }, 'vm-exit-msr-store-addr-aligned', 7, 'VM_EXIT_MSR_STORE_ADDR', '0x2004'],
  ['VM-exit default1 bit 0 cleared', (_, m) => m.set('VM_EXIT_CONTROLS', 0x36dfe), 'exit-reserved-default1', 7, 'VM_EXIT_CONTROLS', '0x36DFE'],
  ['host address-space size on IA-32', (_, m) => m.set('VM_EXIT_CONTROLS', 0x36fff), 'exit-host-address-space-size', 7, 'VM_EXIT_CONTROLS', '0x36FFF'],
  ['VM-entry reserved bit 19 set', (_, m) => m.set('VM_ENTRY_CONTROLS', 0x811ff), 'entry-reserved-zero', 7, 'VM_ENTRY_CONTROLS', '0x811FF'],
  ['IA-32e mode guest on IA-32', (_, m) => m.set('VM_ENTRY_CONTROLS', 0x13ff), 'entry-ia32e-mode', 7, 'VM_ENTRY_CONTROLS', '0x13FF'],
  ['CR3-target count 5', (_, m) => m.set('CR3_TARGET_COUNT', 5), 'cr3-target-count', 7, 'CR3_TARGET_COUNT', '0x5'],
  ['I/O bitmap A not 4 KiB aligned', (_, m) => m.set('IO_BITMAP_A', 0x1f400800), 'io-bitmap-a-aligned', 7, 'IO_BITMAP_A', '0x1F400800'],
  ['I/O bitmap B above 4 GiB', (_, m) => m.set('IO_BITMAP_B', 0x100001000n), 'io-bitmap-b-aligned', 7, 'IO_BITMAP_B', '0x100001000'],
  ['MSR bitmap not 4 KiB aligned', (_, m) => m.set('MSR_BITMAP', 0x1f402010), 'msr-bitmap-aligned', 7, 'MSR_BITMAP', '0x1F402010'],
  ['virtual NMIs without NMI exiting', (_, m) => m.set('PIN_BASED_VM_EXEC_CONTROL', 0x36), 'virtual-nmis-need-nmi-exiting', 7, 'PIN_BASED_VM_EXEC_CONTROL', '0x36'],
  // The default pin controls include virtual NMIs; this case takes them (and NMI exiting) away.
  ['NMI-window exiting without virtual NMIs', (_, m) => { m.set('PIN_BASED_VM_EXEC_CONTROL', 0x16); m.set('CPU_BASED_VM_EXEC_CONTROL', 0x9641e1fa); }, 'nmi-window-needs-virtual-nmis', 7, 'CPU_BASED_VM_EXEC_CONTROL', '0x9641E1FA'],
  ['VM-entry MSR-load address not 16-byte aligned', (_, m) => { m.set('VM_ENTRY_MSR_LOAD_COUNT', 1); m.set('VM_ENTRY_MSR_LOAD_ADDR', 0x1008); }, 'vm-entry-msr-load-addr-aligned', 7, 'VM_ENTRY_MSR_LOAD_ADDR', '0x1008'],
  ['injection with reserved bit 12', (_, m) => m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80001b0d), 'injection-reserved', 7, 'VM_ENTRY_INTR_INFO_FIELD', '0x80001B0D'],
  ['injection type 1', (_, m) => m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000100), 'injection-type', 7, 'VM_ENTRY_INTR_INFO_FIELD', '0x80000100'],
  ['NMI with vector 3', (_, m) => m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000203), 'injection-nmi-vector', 7, 'VM_ENTRY_INTR_INFO_FIELD', '0x80000203'],
  ['hardware exception vector 32', (_, m) => m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000320), 'injection-exception-vector', 7, 'VM_ENTRY_INTR_INFO_FIELD', '0x80000320'],
  ['#UD with an error code', (_, m) => m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000b06), 'injection-error-code', 7, 'VM_ENTRY_INTR_INFO_FIELD', '0x80000B06'],
  ['#GP without an error code', (_, m) => m.set('VM_ENTRY_INTR_INFO_FIELD', 0x8000030d), 'injection-error-code', 7, 'VM_ENTRY_INTR_INFO_FIELD', '0x8000030D'],
  ['#GP with an error code in real mode (unrestricted)', (_, m) => { m.set('GUEST_CR0', 0x60000010); m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000b0d); }, 'injection-error-code', 7, 'VM_ENTRY_INTR_INFO_FIELD', '0x80000B0D'],
  ['error code with bits 31:16', (_, m) => { m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000b0d); m.set('VM_ENTRY_EXCEPTION_ERROR_CODE', 0x10000); }, 'injection-error-code-reserved', 7, 'VM_ENTRY_EXCEPTION_ERROR_CODE', '0x10000'],
  ['INT 0x80 with instruction length 0', (_, m) => m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000480), 'injection-instruction-length', 7, 'VM_ENTRY_INSTRUCTION_LEN', '0x0'],
  ['INT3 with instruction length 16', (_, m) => { m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000603); m.set('VM_ENTRY_INSTRUCTION_LEN', 16); }, 'injection-instruction-length', 7, 'VM_ENTRY_INSTRUCTION_LEN', '0x10'],
  // Host-state area: VM-instruction error 8.
  ['host CR0.NE clear', (_, m) => m.set('HOST_CR0', 0x80050013), 'host-cr0-fixed', 8, 'HOST_CR0', '0x80050013'],
  ['host CR4.VMXE clear', (_, m) => m.set('HOST_CR4', 0x6f0), 'host-cr4-vmxe', 8, 'HOST_CR4', '0x6F0'],
  ['host CS selector null', (_, m) => m.set('HOST_CS_SELECTOR', 0), 'host-cs-selector-not-null', 8, 'HOST_CS_SELECTOR', '0x0'],
  ['host TR selector null', (_, m) => m.set('HOST_TR_SELECTOR', 0), 'host-tr-selector-not-null', 8, 'HOST_TR_SELECTOR', '0x0'],
  ['host SS selector RPL 3', (_, m) => m.set('HOST_SS_SELECTOR', 0x6b), 'host-ss-selector-rpl-ti', 8, 'HOST_SS_SELECTOR', '0x6B'],
  ['host FS selector TI set', (_, m) => m.set('HOST_FS_SELECTOR', 0xdc), 'host-fs-selector-rpl-ti', 8, 'HOST_FS_SELECTOR', '0xDC'],
  // Guest-state area: exit 33 with bit 31 set.
  ['guest CR0.PG without PE', (_, m) => m.set('GUEST_CR0', 0x80000010), 'guest-cr0-pg-needs-pe', 33, 'GUEST_CR0', '0x80000010'],
  ['guest CR0.PG clear without unrestricted guest', (v) => v.setControl('secondary', 'UNRESTRICTED_GUEST', false), 'guest-cr0-fixed', 33, 'GUEST_CR0', '0x60000011'],
  ['guest CR4.VMXE clear', (_, m) => m.set('GUEST_CR4', 0), 'guest-cr4-vmxe', 33, 'GUEST_CR4', '0x0'],
  ['guest RFLAGS bit 1 clear', (_, m) => m.set('GUEST_RFLAGS', 0), 'guest-rflags-reserved', 33, 'GUEST_RFLAGS', '0x0'],
  ['guest RFLAGS bit 15 set', (_, m) => m.set('GUEST_RFLAGS', 0x8002), 'guest-rflags-reserved', 33, 'GUEST_RFLAGS', '0x8002'],
  ['guest RFLAGS.VM in real mode', (_, m) => { m.set('GUEST_CR0', 0x60000010); m.set('GUEST_RFLAGS', 0x20002); }, 'guest-rflags-vm-real', 33, 'GUEST_RFLAGS', '0x20002'],
  ['external interrupt injected with IF clear', (_, m) => m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000020), 'guest-rflags-if-for-interrupt', 33, 'GUEST_RFLAGS', '0x2'],
  ['virtual-8086 mode with a flat CS', (_, m) => m.set('GUEST_RFLAGS', 0x20002), 'guest-cs-v86', 33, 'GUEST_CS_AR_BYTES', '0xC09B'],
  ['guest TR selector TI set', (_, m) => m.set('GUEST_TR_SELECTOR', 4), 'guest-tr-ti', 33, 'GUEST_TR_SELECTOR', '0x4'],
  ['guest SS.RPL ≠ CS.RPL', (v, m) => { restricted(v); m.set('GUEST_SS_SELECTOR', 0x13); }, 'guest-ss-rpl', 33, 'GUEST_SS_SELECTOR', '0x13'],
  ['guest CS of data type 3 without unrestricted guest', (v, m) => { restricted(v); m.set('GUEST_CS_AR_BYTES', 0xc093); }, 'guest-cs-type', 33, 'GUEST_CS_AR_BYTES', '0xC093'],
  ['guest CS unusable', (_, m) => m.set('GUEST_CS_AR_BYTES', 0x1c09b), 'guest-cs-usable', 33, 'GUEST_CS_AR_BYTES', '0x1C09B'],
  ['guest CS not present', (_, m) => m.set('GUEST_CS_AR_BYTES', 0xc01b), 'guest-cs-ar-s-p', 33, 'GUEST_CS_AR_BYTES', '0xC01B'],
  ['guest CS limit 4 GiB with G clear', (_, m) => m.set('GUEST_CS_AR_BYTES', 0x409b), 'guest-cs-granularity', 33, 'GUEST_CS_LIMIT', '0xFFFFFFFF'],
  ['guest CS.DPL 1 with SS.DPL 0', (_, m) => m.set('GUEST_CS_AR_BYTES', 0xc0bb), 'guest-cs-dpl', 33, 'GUEST_CS_AR_BYTES', '0xC0BB'],
  ['guest SS of code type', (_, m) => m.set('GUEST_SS_AR_BYTES', 0xc09b), 'guest-ss-type', 33, 'GUEST_SS_AR_BYTES', '0xC09B'],
  ['guest SS.DPL 3 with RPL 0 (restricted)', (v, m) => { restricted(v); m.set('GUEST_SS_AR_BYTES', 0xc0f3); m.set('GUEST_CS_AR_BYTES', 0xc0fb); m.set('GUEST_CS_SELECTOR', 0x8); }, 'guest-ss-dpl-rpl', 33, 'GUEST_SS_AR_BYTES', '0xC0F3'],
  ['guest SS.DPL 1 with CR0.PE clear', (_, m) => { m.set('GUEST_CR0', 0x60000010); m.set('GUEST_CS_AR_BYTES', 0xc0bb); m.set('GUEST_SS_AR_BYTES', 0xc0b3); }, 'guest-ss-dpl-zero', 33, 'GUEST_SS_AR_BYTES', '0xC0B3'],
  ['guest DS not accessed', (_, m) => m.set('GUEST_DS_AR_BYTES', 0xc092), 'guest-ds-type', 33, 'GUEST_DS_AR_BYTES', '0xC092'],
  ['guest GS execute-only code', (_, m) => m.set('GUEST_GS_AR_BYTES', 0xc099), 'guest-gs-type', 33, 'GUEST_GS_AR_BYTES', '0xC099'],
  ['guest DS.DPL below RPL (restricted)', (v, m) => { restricted(v); m.set('GUEST_DS_SELECTOR', 0x13); }, 'guest-ds-dpl', 33, 'GUEST_DS_AR_BYTES', '0xC093'],
  ['guest ES access-rights bit 8 set', (_, m) => m.set('GUEST_ES_AR_BYTES', 0xc193), 'guest-es-ar-reserved', 33, 'GUEST_ES_AR_BYTES', '0xC193'],
  ['guest FS limit 0xFFFF000 with G set', (_, m) => m.set('GUEST_FS_LIMIT', 0xffff000), 'guest-fs-granularity', 33, 'GUEST_FS_LIMIT', '0xFFFF000'],
  ['guest TR an available TSS', (_, m) => m.set('GUEST_TR_AR_BYTES', 0x89), 'guest-tr-type', 33, 'GUEST_TR_AR_BYTES', '0x89'],
  ['guest TR unusable', (_, m) => m.set('GUEST_TR_AR_BYTES', 0x1008b), 'guest-tr-usable', 33, 'GUEST_TR_AR_BYTES', '0x1008B'],
  ['guest TR with S set', (_, m) => m.set('GUEST_TR_AR_BYTES', 0x9b), 'guest-tr-ar-s-p', 33, 'GUEST_TR_AR_BYTES', '0x9B'],
  ['guest LDTR of type 3', (_, m) => m.set('GUEST_LDTR_AR_BYTES', 0x83), 'guest-ldtr-type', 33, 'GUEST_LDTR_AR_BYTES', '0x83'],
  ['guest GDTR limit above 0xFFFF', (_, m) => m.set('GUEST_GDTR_LIMIT', 0x10000), 'guest-gdtr-limit', 33, 'GUEST_GDTR_LIMIT', '0x10000'],
  ['guest activity state 4', (_, m) => m.set('GUEST_ACTIVITY_STATE', 4), 'guest-activity-state', 33, 'GUEST_ACTIVITY_STATE', '0x4'],
  ['HLT with SS.DPL 1', (_, m) => { m.set('GUEST_ACTIVITY_STATE', 1); m.set('GUEST_CS_AR_BYTES', 0xc0bb); m.set('GUEST_SS_AR_BYTES', 0xc0b3); }, 'guest-hlt-ss-dpl', 33, 'GUEST_ACTIVITY_STATE', '0x1'],
  ['HLT with blocking by STI', (_, m) => { m.set('GUEST_ACTIVITY_STATE', 1); m.set('GUEST_RFLAGS', 0x202); m.set('GUEST_INTERRUPTIBILITY_INFO', 1); }, 'guest-hlt-blocking', 33, 'GUEST_ACTIVITY_STATE', '0x1'],
  ['HLT with #GP injected', (_, m) => { m.set('GUEST_ACTIVITY_STATE', 1); m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000b0d); }, 'guest-activity-injection', 33, 'GUEST_ACTIVITY_STATE', '0x1'],
  ['wait-for-SIPI with NMI injected', (_, m) => { m.set('GUEST_ACTIVITY_STATE', 3); m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000202); }, 'guest-activity-injection', 33, 'GUEST_ACTIVITY_STATE', '0x3'],
  ['interruptibility bit 5 set', (_, m) => m.set('GUEST_INTERRUPTIBILITY_INFO', 0x20), 'guest-interruptibility-reserved', 33, 'GUEST_INTERRUPTIBILITY_INFO', '0x20'],
  ['blocking by STI and MOV SS', (_, m) => { m.set('GUEST_RFLAGS', 0x202); m.set('GUEST_INTERRUPTIBILITY_INFO', 3); }, 'guest-interruptibility-sti-mov-ss', 33, 'GUEST_INTERRUPTIBILITY_INFO', '0x3'],
  ['blocking by STI with IF clear', (_, m) => m.set('GUEST_INTERRUPTIBILITY_INFO', 1), 'guest-interruptibility-sti-if', 33, 'GUEST_INTERRUPTIBILITY_INFO', '0x1'],
  ['blocking by SMI', (_, m) => m.set('GUEST_INTERRUPTIBILITY_INFO', 4), 'guest-interruptibility-smi', 33, 'GUEST_INTERRUPTIBILITY_INFO', '0x4'],
  ['external interrupt during MOV SS blocking', (_, m) => { m.set('GUEST_RFLAGS', 0x202); m.set('GUEST_INTERRUPTIBILITY_INFO', 2); m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000020); }, 'guest-interruptibility-interrupt-injection', 33, 'GUEST_INTERRUPTIBILITY_INFO', '0x2'],
  ['NMI during MOV SS blocking', (_, m) => { m.set('GUEST_INTERRUPTIBILITY_INFO', 2); m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000202); }, 'guest-interruptibility-nmi-injection', 33, 'GUEST_INTERRUPTIBILITY_INFO', '0x2'],
  ['NMI injected while virtual-NMI blocked', (_, m) => { m.set('PIN_BASED_VM_EXEC_CONTROL', 0x3e); m.set('GUEST_INTERRUPTIBILITY_INFO', 8); m.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000202); }, 'guest-virtual-nmi-blocking', 33, 'GUEST_INTERRUPTIBILITY_INFO', '0x8', 3],
  ['pending debug exceptions bit 4', (_, m) => m.set('GUEST_PENDING_DBG_EXCEPTIONS', 0x10), 'guest-pending-debug-reserved', 33, 'GUEST_PENDING_DBG_EXCEPTIONS', '0x10'],
  ['VMCS link pointer 0', (_, m) => m.set('VMCS_LINK_POINTER', 0), 'guest-vmcs-link-pointer', 33, 'VMCS_LINK_POINTER', '0x0', 4],
];

test('the default VMs (flat32 and real mode) pass every check', () => {
  assert.deepEqual(entryCheckFailures(defaultVcpu('flat32').vmcs), []);
  assert.deepEqual(entryCheckFailures(defaultVcpu('real').vmcs), []);
  const g = runGuest(SHUTDOWN);
  assert.equal(g.stop.reason, 'shutdown');
  assert.equal(g.stop.entryFailure, undefined);
});

test('every check row is unique and belongs to one of the three SDM lists', () => {
  const ids = ENTRY_CHECKS.map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const c of ENTRY_CHECKS) assert.ok(['controls', 'host-state', 'guest-state'].includes(c.list), c.id);
  // Every case below names an existing row.
  for (const [, , id] of CASES) assert.ok(ids.includes(id), id);
});

for (const [name, breakIt, id, outcome, field, value, qualification] of CASES) {
  test(`entry check: ${name}`, () => {
    const v = defaultVcpu();
    breakIt(v, v.vmcs);
    const f = checkVmEntry(v.vmcs);
    assert.ok(f, 'the broken VMCS must fail');
    assert.equal(f.check, id);
    assert.equal(f.field, field);
    assert.match(f.explanation, new RegExp(`: ${field} \\(0x[0-9A-F]{4}\\) = ${value}$`));
    if (outcome === 33) {
      assert.equal(f.list, 'guest-state');
      assert.equal(f.exitReason, 0x80000021);
      assert.equal(f.qualification, qualification ?? 0);
      assert.equal(f.instructionError, undefined);
    } else {
      assert.equal(f.list, outcome === 7 ? 'controls' : 'host-state');
      assert.equal(f.instructionError, outcome);
      assert.equal(f.exitReason, undefined);
    }
  });
}

test('explanations name the check, the field with its SDM encoding and the value', () => {
  const v = defaultVcpu();
  v.vmcs.set('GUEST_CR0', 0x80000010);
  assert.equal(checkVmEntry(v.vmcs)?.explanation, 'guest CR0.PG is set but CR0.PE is clear: GUEST_CR0 (0x6800) = 0x80000010');
  const h = defaultVcpu();
  h.vmcs.set('HOST_CR4', 0x6f0);
  assert.equal(checkVmEntry(h.vmcs)?.explanation, 'host CR4.VMXE (bit 13) is fixed to 1 in VMX operation but is clear: HOST_CR4 (0x6C04) = 0x6F0');
  const c = defaultVcpu();
  c.vmcs.set('PIN_BASED_VM_EXEC_CONTROL', 0x10);
  assert.match(checkVmEntry(c.vmcs)?.explanation ?? '', /^reserved bit\(s\) 1, 2 of the pin-based VM-execution controls are in the default1 class/);
});

test('controls are checked before host state, host state before guest state', () => {
  const v = defaultVcpu();
  v.vmcs.set('GUEST_RFLAGS', 0);
  v.vmcs.set('HOST_CR4', 0);
  v.vmcs.set('CR3_TARGET_COUNT', 9);
  assert.deepEqual(entryCheckFailures(v.vmcs).map((f) => f.list), ['controls', 'host-state', 'guest-state']);
  assert.equal(checkVmEntry(v.vmcs)?.instructionError, 7);
});

test('checks count only when their control makes the field count', () => {
  const v = defaultVcpu();
  // Bitmap addresses are ignored without the bitmap controls.
  v.vmcs.set('MSR_BITMAP', 0x1f402010);
  v.setControl('primary', 'USE_MSR_BITMAPS', false);
  // The secondary controls are ignored without "activate secondary controls" (reserved bit 21 too) ...
  v.vmcs.set('SECONDARY_VM_EXEC_CONTROL', 0x200088);
  v.setControl('primary', 'SEC_CONTROLS', false);
  // ... so "unrestricted guest" no longer counts and the flat unpaged guest fails CR0's fixed bits.
  const f = checkVmEntry(v.vmcs);
  assert.equal(f?.check, 'guest-cr0-fixed');
  assert.match(f?.explanation ?? '', /"unrestricted guest" is set in SECONDARY_VM_EXEC_CONTROL but "activate secondary controls" \(primary bit 31\) is clear/);
  // Tertiary controls count only with primary bit 17; MSR-area addresses only with a non-zero count.
  const t = defaultVcpu();
  t.vmcs.set('TERTIARY_VM_EXEC_CONTROL', 0x20);
  t.vmcs.set('VM_ENTRY_MSR_LOAD_ADDR', 0x1008);
  assert.equal(checkVmEntry(t.vmcs), null);
  // Unusable data segments and a valid software interrupt pass.
  const u = defaultVcpu();
  u.vmcs.set('GUEST_DS_AR_BYTES', 0x10000);
  u.vmcs.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000480);
  u.vmcs.set('VM_ENTRY_INSTRUCTION_LEN', 2);
  assert.equal(checkVmEntry(u.vmcs), null);
  // HLT accepts #DB and a data-type CS is allowed with unrestricted guest.
  const h = defaultVcpu();
  h.vmcs.set('GUEST_ACTIVITY_STATE', 1);
  h.vmcs.set('VM_ENTRY_INTR_INFO_FIELD', 0x80000301);
  h.vmcs.set('GUEST_CS_AR_BYTES', 0xc093);
  assert.equal(checkVmEntry(h.vmcs), null);
});

test('VMLAUNCH with an invalid control field fails with VM-instruction error 7 and the guest does not run', () => {
  const g = runGuest('  mov dword [0x5000], 1\n' + SHUTDOWN, (v) => v.vmcs.set('CR3_TARGET_COUNT', 5));
  assert.equal(g.stop.reason, 'error');
  assert.equal(g.stop.instructions, 0);
  assert.equal(g.stop.entryFailure?.check, 'cr3-target-count');
  assert.match(g.stop.message, /VM-instruction error 7: VM entry with invalid control field\(s\)/);
  assert.match(g.stop.message, /CR3_TARGET_COUNT \(0x400A\) = 0x5$/);
  assert.equal(g.vm.vcpus[0].vmcs.get('VM_INSTRUCTION_ERROR'), 7);
  assert.deepEqual(g.exits, []);
  assert.deepEqual(g.entries, []);
  assert.equal(g.vm.machine.memory.read8(0x5000), 0);
  // The VM stays stopped.
  assert.equal(g.vm.run(100).reason, 'error');
});

test('VMLAUNCH with an invalid host-state field fails with VM-instruction error 8', () => {
  const g = runGuest(SHUTDOWN, (v) => v.vmcs.set('HOST_TR_SELECTOR', 0));
  assert.equal(g.stop.reason, 'error');
  assert.equal(g.vm.vcpus[0].vmcs.get('VM_INSTRUCTION_ERROR'), 8);
  assert.equal(g.stop.entryFailure?.field, 'HOST_TR_SELECTOR');
  assert.deepEqual(g.exits, []);
});

test('VMLAUNCH with invalid guest state exits with reason 33, bit 31 set', () => {
  const g = runGuest(SHUTDOWN, (v) => v.vmcs.set('GUEST_RFLAGS', 0));
  assert.equal(g.stop.reason, 'error');
  assert.equal(g.stop.instructions, 0);
  assert.equal(g.exits.length, 1);
  assert.equal(g.exits[0].reason, 33);
  assert.equal(g.exits[0].name, 'INVALID_STATE');
  assert.match(g.exits[0].why, /GUEST_RFLAGS \(0x6820\) = 0x0$/);
  const m = g.vm.vcpus[0].vmcs;
  assert.equal(m.get('VM_EXIT_REASON'), 0x80000021);
  assert.equal(m.get('EXIT_QUALIFICATION'), 0);
  assert.equal(m.get('VM_INSTRUCTION_ERROR'), 0);
  assert.equal(g.vm.stats.report().reasons.find((r) => r.reason === 33)?.count, 1);
});

test('guest state made invalid mid-run stops the VM at the next entry with reason 33', () => {
  const exits: VmExit[] = [];
  const vm = createVm({
    image: build('  cpuid\n  mov dword [0x5000], 1\n' + SHUTDOWN),
    handlers: {
      10: (v) => {
        v.skipInstruction();
        v.vmcs.set('GUEST_CR0', 0x80000010);
        return { kind: 'resume' };
      },
    },
  });
  vm.events.on('exit', (e) => exits.push(e));
  const stop = vm.run(1000);
  assert.deepEqual(exits.map((e) => e.reason), [10, 33]);
  const why = 'guest CR0.PG is set but CR0.PE is clear: GUEST_CR0 (0x6800) = 0x80000010';
  assert.equal(exits[1].why, why);
  assert.equal(exits[1].qualification, 0);
  assert.equal(stop.reason, 'error');
  assert.equal(stop.entryFailure?.exitReason, 0x80000021);
  assert.ok(stop.message.endsWith(why));
  assert.equal(vm.vcpus[0].vmcs.get('VM_EXIT_REASON'), 0x80000021);
  // The instruction after CPUID never ran.
  assert.equal(vm.machine.memory.read8(0x5000), 0);
  assert.equal(vm.run(100).reason, 'error');
});

test('an invalid VMCS link pointer mid-run exits with qualification 4', () => {
  const exits: VmExit[] = [];
  const vm = createVm({
    image: build('  cpuid\n' + SHUTDOWN),
    handlers: { 10: (v) => { v.skipInstruction(); v.vmcs.set('VMCS_LINK_POINTER', 0x3000); return { kind: 'resume' }; } },
  });
  vm.events.on('exit', (e) => exits.push(e));
  assert.equal(vm.run(1000).reason, 'error');
  assert.deepEqual(exits.map((e) => e.reason), [10, 33]);
  assert.equal(exits[1].qualification, 4);
  assert.equal(vm.vcpus[0].vmcs.get('EXIT_QUALIFICATION'), 4);
});
