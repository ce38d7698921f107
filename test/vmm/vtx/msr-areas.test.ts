// The MSR lists of VM entries and exits (SDM 27.4, 28.4, 28.6) and exit
// reason 34: entries loaded on every entry, stored and loaded on every exit,
// and each way an entry can fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runGuest } from './guest';
import type { Vcpu } from '../../../src/vmm/vtx/index';
import { MAX_MSR_LIST_ENTRIES, MSR_ENTRY_RULES, readMsrArea, writeMsrArea } from '../../../src/vmm/vtx/msr-areas';

const SHUTDOWN = '  mov eax, 3\n  mov ebx, 0\n  vmcall\n';
const ENTRY_AREA = 0x8000;
const STORE_AREA = 0x8400;
const EXIT_AREA = 0x8800;

const SYSENTER_CS = 0x174;
const SYSENTER_ESP = 0x175;
const SYSENTER_EIP = 0x176;

type Entry = { index: number; data?: bigint; reserved?: number };

function entryLoad(entries: readonly Entry[], count = entries.length): (v: Vcpu) => void {
  return (v) => {
    writeMsrArea(v.cpu, ENTRY_AREA, entries);
    v.vmcs.set('VM_ENTRY_MSR_LOAD_ADDR', ENTRY_AREA);
    v.vmcs.set('VM_ENTRY_MSR_LOAD_COUNT', count);
  };
}

const read32 = (v: Vcpu, a: number): number => v.cpu.mem.read32(a) >>> 0;

test('the VM-entry MSR-load area sets guest MSRs on every entry, after the guest-state area', () => {
  // SYSENTER_CS is also a guest-state field (0 here); the list overrides it. The guest changes it,
  // exits (CPUID) and reads it again: the re-entry loaded the list's value once more.
  const { stop, exits, vm } = runGuest(`
  mov ecx, 0x174
  rdmsr
  mov [0x6000], eax
  mov ecx, 0x175
  rdmsr
  mov [0x6004], eax
  mov ecx, 0x174
  mov eax, 0x99
  xor edx, edx
  wrmsr
  rdmsr
  mov [0x6008], eax
  xor eax, eax
  cpuid
  mov ecx, 0x174
  rdmsr
  mov [0x600C], eax
  rdtsc
  mov [0x6010], edx
${SHUTDOWN}`, entryLoad([{ index: SYSENTER_CS, data: 0x10n }, { index: SYSENTER_ESP, data: 0x12345678n }, { index: 0x10, data: 0x5500000000n }]));
  assert.equal(stop.reason, 'shutdown');
  assert.deepEqual(exits.map((e) => e.reason), [10, 18]);
  const v = vm.vcpus[0];
  assert.equal(read32(v, 0x6000), 0x10);
  assert.equal(read32(v, 0x6004), 0x12345678);
  assert.equal(read32(v, 0x6008), 0x99, 'WRMSR of SYSENTER_CS does not exit with an empty MSR bitmap');
  assert.equal(read32(v, 0x600c), 0x10, 'the re-entry after CPUID loaded the list again');
  // The TSC entry moved the CPU's TSC; TSC_OFFSET is 0, so the guest reads it back (a few instructions later).
  assert.equal(read32(v, 0x6010), 0x55);
});

test('the VM-exit MSR-store area receives the guest values at each exit; failed entries store nothing', () => {
  const { stop, vm } = runGuest(`
  mov ecx, 0x176
  mov eax, 0xCAFEBABE
  mov edx, 0x11
  wrmsr
  xor eax, eax
  cpuid
  mov ecx, 0x176
  mov eax, 0x1234
  xor edx, edx
  wrmsr
${SHUTDOWN}`, (v) => {
    writeMsrArea(v.cpu, STORE_AREA, [{ index: SYSENTER_EIP, data: 0xffffn }, { index: 0xc0000080, data: 0xffffn }]);
    v.vmcs.set('VM_EXIT_MSR_STORE_ADDR', STORE_AREA);
    v.vmcs.set('VM_EXIT_MSR_STORE_COUNT', 2);
  });
  assert.equal(stop.reason, 'shutdown');
  const v = vm.vcpus[0];
  // The last exit is the shutdown VMCALL, after the second WRMSR.
  assert.equal(read32(v, STORE_AREA), SYSENTER_EIP, 'the index is left as it was');
  assert.equal(read32(v, STORE_AREA + 8), 0x1234);
  assert.equal(read32(v, STORE_AREA + 12), 0);
  assert.equal(read32(v, STORE_AREA + 16 + 8), 0, 'EFER is 0 in this guest');
  assert.deepEqual(readMsrArea(v.cpu, v.vmcs, 'exit-store').map((e) => [e.number, e.index, e.data]), [[1, SYSENTER_EIP, 0x1234n], [2, 0xc0000080, 0n]]);

  // The first exit (CPUID) stored the value the guest had then.
  const first = runGuest(`
  mov ecx, 0x176
  mov eax, 0xCAFEBABE
  mov edx, 0x11
  wrmsr
  xor eax, eax
  cpuid
  hlt
`, (w) => {
    writeMsrArea(w.cpu, STORE_AREA, [{ index: SYSENTER_EIP }]);
    w.vmcs.set('VM_EXIT_MSR_STORE_ADDR', STORE_AREA);
    w.vmcs.set('VM_EXIT_MSR_STORE_COUNT', 1);
    w.setControl('primary', 'HLT_EXITING', false);
  });
  assert.equal(first.exits.length, 1);
  assert.equal(read32(first.vm.vcpus[0], STORE_AREA + 8), 0xcafebabe);
  assert.equal(read32(first.vm.vcpus[0], STORE_AREA + 12), 0x11);
});

test('IA32_TSC through the lists: loaded on entry, stored on exit without TSC_OFFSET', () => {
  const { stop, vm } = runGuest(`
  rdtsc
  mov [0x6000], edx
${SHUTDOWN}`, (v) => {
    entryLoad([{ index: 0x10, data: 0x7700000000n }])(v);
    v.vmcs.set('TSC_OFFSET', 0x100000000n);
    writeMsrArea(v.cpu, STORE_AREA, [{ index: 0x10 }]);
    v.vmcs.set('VM_EXIT_MSR_STORE_ADDR', STORE_AREA);
    v.vmcs.set('VM_EXIT_MSR_STORE_COUNT', 1);
  });
  assert.equal(stop.reason, 'shutdown');
  const v = vm.vcpus[0];
  assert.equal(read32(v, 0x6000), 0x78, 'the guest reads the loaded TSC plus TSC_OFFSET');
  assert.equal(read32(v, STORE_AREA + 12), 0x77, 'the store area holds the TSC itself');
  assert.ok(read32(v, STORE_AREA + 8) < 100, 'a few instructions after the load');
});

test('the VM-exit MSR-load area updates the host view, not the guest MSRs', () => {
  const { stop, exits, vm } = runGuest(`
  mov ecx, 0x174
  mov eax, 0x23
  xor edx, edx
  wrmsr
  xor eax, eax
  cpuid
  mov ecx, 0x174
  rdmsr
  mov [0x6000], eax
${SHUTDOWN}`, (v) => {
    writeMsrArea(v.cpu, EXIT_AREA, [{ index: SYSENTER_CS, data: 0x60n }, { index: 0xc0000080, data: 0x801n }]);
    v.vmcs.set('VM_EXIT_MSR_LOAD_ADDR', EXIT_AREA);
    v.vmcs.set('VM_EXIT_MSR_LOAD_COUNT', 2);
  });
  assert.equal(stop.reason, 'shutdown');
  const v = vm.vcpus[0];
  assert.equal(v.hostMsrs.get(SYSENTER_CS), 0x60n);
  assert.equal(v.hostMsrs.get(0xc0000080), 0x801n);
  assert.deepEqual(v.hostMsrs.entries().map(([i]) => i), [SYSENTER_CS, 0xc0000080]);
  assert.equal(v.hostMsrs.loads, 2 * exits.length, 'two MSRs per exit');
  assert.equal(read32(v, 0x6000), 0x23, 'the guest keeps its own SYSENTER_CS');
  assert.equal(v.cpu.msrs.read(0xc0000080), 0n);
});

/** name, the entries (the failing one last unless said), count override, failing entry number, rule, words the message must contain. */
type FailCase = [string, Entry[], number | undefined, number, string, string];
const VALID: Entry = { index: SYSENTER_CS, data: 0x42n };
const FAIL_CASES: FailCase[] = [
  ['reserved bits 63:32 set', [{ index: SYSENTER_ESP, reserved: 1 }], undefined, 1, 'reserved', 'bits 63:32 of the entry are reserved'],
  ['IA32_FS_BASE', [VALID, { index: 0xc0000100 }], undefined, 2, 'fs-gs-base', 'IA32_FS_BASE'],
  ['IA32_GS_BASE', [VALID, VALID, { index: 0xc0000101 }], undefined, 3, 'fs-gs-base', 'IA32_GS_BASE'],
  ['IA32_SMM_MONITOR_CTL', [{ index: 0x9b }], undefined, 1, 'smm-only-write', 'can be written only in SMM'],
  ['x2APIC TPR 0x808', [VALID, VALID, { index: 0x808 }], undefined, 3, 'x2apic', 'x2APIC range'],
  ['microcode update trigger', [VALID, { index: 0x79 }], undefined, 2, 'model-specific', 'IA32_BIOS_UPDT_TRIG'],
  ['an MSR the CPU does not have', [VALID, { index: 0x4b564d00 }], undefined, 2, 'not-present', 'no MSR 0x4B564D00'],
  ['more entries than IA32_VMX_MISC allows', Array.from({ length: MAX_MSR_LIST_ENTRIES + 1 }, () => VALID), undefined, MAX_MSR_LIST_ENTRIES + 1, 'count', 'allow at most 512'],
];

for (const [name, entries, count, number, rule, words] of FAIL_CASES) {
  test(`VM-entry MSR-load failure: ${name} → exit 34 with bit 31, qualification ${number}`, () => {
    const { stop, exits, vm, entries: entered } = runGuest(SHUTDOWN, entryLoad(entries, count));
    const v = vm.vcpus[0];
    assert.equal(stop.reason, 'error');
    assert.equal(stop.instructions, 0, 'the guest never ran');
    assert.deepEqual(entered, [], 'no entry completed');
    assert.equal(exits.length, 1);
    const e = exits[0];
    assert.equal(e.reason, 34);
    assert.equal(e.name, 'MSR_LOAD_FAIL');
    assert.equal(e.qualification, number);
    assert.equal(v.vmcs.get('VM_EXIT_REASON'), 0x80000022);
    assert.equal(v.vmcs.get('EXIT_QUALIFICATION'), number);
    assert.match(e.summary ?? '', new RegExp(`entry ${number} \\(counting from 1\\)`));
    const f = stop.entryFailure;
    assert.ok(f !== undefined);
    assert.equal(f.check, `msr-load-${rule}`);
    assert.equal(f.exitReason, 0x80000022);
    assert.equal(f.qualification, number);
    assert.equal(f.field, 'VM_ENTRY_MSR_LOAD_ADDR');
    assert.equal(e.why, f.explanation);
    assert.ok(stop.message.startsWith(`VM entry failed (exit reason 0x80000022, qualification ${number}; SDM 27.4 loading MSRs): VM-entry MSR-load area entry ${number} (at 0x${(ENTRY_AREA + 16 * (number - 1)).toString(16).toUpperCase()}`), stop.message);
    assert.ok(stop.message.includes(words), stop.message);
    // Entries before the failing one stay loaded.
    if (number > 1 && entries[0] === VALID) assert.equal(v.cpu.msrs.read(SYSENTER_CS), 0x42n);
    // A failed VM entry ends the VM.
    assert.equal(vm.run(100).reason, 'error');
  });
}

test('every entry rule has a failure case', () => {
  const covered = new Set(FAIL_CASES.map((c) => c[4]));
  for (const r of MSR_ENTRY_RULES) if (r.id !== 'smm-only-read') assert.ok(covered.has(r.id), r.id);
});

test('an MSR-load failure on a later entry (VMRESUME): the guest breaks its own list, the next entry fails', () => {
  // The area is ordinary memory the guest can write: it replaces entry 1's index with IA32_SMM_MONITOR_CTL.
  const { stop, exits, vm } = runGuest(`
  mov dword [0x${ENTRY_AREA.toString(16)}], 0x9B
  xor eax, eax
  cpuid
${SHUTDOWN}`, entryLoad([VALID]));
  assert.deepEqual(exits.map((e) => [e.reason, e.qualification]), [[10, 0], [34, 1]]);
  assert.equal(stop.reason, 'error');
  assert.match(stop.message, /qualification 1; SDM 27\.4 loading MSRs\): VM-entry MSR-load area entry 1 .*IA32_SMM_MONITOR_CTL\) can be written only in SMM/);
  assert.equal(exits[1].rip, exits[0].rip + exits[0].instructionLength, 'the failed entry was going to resume after CPUID');
  assert.equal(vm.vcpus[0].vmcs.get('VM_EXIT_REASON'), 0x80000022);
});

test('a failed VM entry loads the VM-exit MSR-load area but stores no guest MSRs (SDM 27.8)', () => {
  const { stop, vm } = runGuest(SHUTDOWN, (v) => {
    entryLoad([{ index: 0x9b }])(v);
    writeMsrArea(v.cpu, EXIT_AREA, [{ index: SYSENTER_EIP, data: 0x7777n }]);
    v.vmcs.set('VM_EXIT_MSR_LOAD_ADDR', EXIT_AREA);
    v.vmcs.set('VM_EXIT_MSR_LOAD_COUNT', 1);
    writeMsrArea(v.cpu, STORE_AREA, [{ index: SYSENTER_EIP, data: 0xabcdn }]);
    v.vmcs.set('VM_EXIT_MSR_STORE_ADDR', STORE_AREA);
    v.vmcs.set('VM_EXIT_MSR_STORE_COUNT', 1);
  });
  assert.equal(stop.reason, 'error');
  const v = vm.vcpus[0];
  assert.equal(v.hostMsrs.get(SYSENTER_EIP), 0x7777n);
  assert.equal(read32(v, STORE_AREA + 8), 0xabcd, 'the store area is untouched');
});

test('a guest-state check failure (exit 33) also loads the VM-exit MSR-load area', () => {
  const { stop, exits, vm } = runGuest(SHUTDOWN, (v) => {
    v.vmcs.set('VMCS_LINK_POINTER', 0);
    writeMsrArea(v.cpu, EXIT_AREA, [{ index: SYSENTER_CS, data: 0x5n }]);
    v.vmcs.set('VM_EXIT_MSR_LOAD_ADDR', EXIT_AREA);
    v.vmcs.set('VM_EXIT_MSR_LOAD_COUNT', 1);
  });
  assert.equal(stop.reason, 'error');
  assert.equal(exits[0].reason, 33);
  assert.equal(vm.vcpus[0].hostMsrs.get(SYSENTER_CS), 0x5n);
});

test('a VM-exit MSR-store failure is VMX abort 1; a VM-exit MSR-load failure is VMX abort 4', () => {
  const store = runGuest('  xor eax, eax\n  cpuid\n' + SHUTDOWN, (v) => {
    writeMsrArea(v.cpu, STORE_AREA, [{ index: SYSENTER_CS }, { index: 0x9e }]);
    v.vmcs.set('VM_EXIT_MSR_STORE_ADDR', STORE_AREA);
    v.vmcs.set('VM_EXIT_MSR_STORE_COUNT', 2);
  });
  assert.equal(store.stop.reason, 'error');
  assert.deepEqual(store.exits, [], 'the exit never reached root mode');
  assert.match(store.stop.message, /^VMX abort 1 \(failure saving guest MSRs; SDM 28\.7\): VM-exit MSR-store area entry 2 .*IA32_SMBASE\) can be read only in SMM/);
  assert.equal(store.vm.run(100).reason, 'error', 'the VM stays stopped');

  const load = runGuest('  xor eax, eax\n  cpuid\n' + SHUTDOWN, (v) => {
    writeMsrArea(v.cpu, EXIT_AREA, [{ index: 0xc0000100 }]);
    v.vmcs.set('VM_EXIT_MSR_LOAD_ADDR', EXIT_AREA);
    v.vmcs.set('VM_EXIT_MSR_LOAD_COUNT', 1);
  });
  assert.equal(load.stop.reason, 'error');
  assert.match(load.stop.message, /^VMX abort 4 \(failure loading host MSRs; SDM 28\.7\): VM-exit MSR-load area entry 1 .*IA32_FS_BASE/);
});

test('a misaligned MSR-load address is a control check (VMfailValid 7), not exit 34', () => {
  const { stop, exits } = runGuest(SHUTDOWN, (v) => {
    v.vmcs.set('VM_ENTRY_MSR_LOAD_ADDR', ENTRY_AREA + 8);
    v.vmcs.set('VM_ENTRY_MSR_LOAD_COUNT', 1);
  });
  assert.equal(stop.reason, 'error');
  assert.deepEqual(exits, []);
  assert.equal(stop.entryFailure?.instructionError, 7);
  assert.equal(stop.entryFailure?.check, 'vm-entry-msr-load-addr-aligned');
});
