// A configuration turned into createVm options: the VMCS and bitmaps a VM
// starts with, and what a guest then sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseVmConfig, toVmOptions, type VmConfig, type VmConfigOptions } from '../../../src/vmm/config/index';
import { createVm, type VmExit } from '../../../src/vmm/vtx/index';
import { build } from '../vtx/guest';

function config(json: unknown): VmConfig {
  const r = parseVmConfig(json);
  assert.ok('config' in r, 'errors' in r ? JSON.stringify(r.errors) : '');
  return r.config;
}

function options(json: unknown): { options: VmConfigOptions; notApplied: string[] } {
  const r = toVmOptions(config(json));
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.errors));
  return r;
}

const SHUTDOWN = '  mov eax, 3\n  xor ebx, ebx\n  vmcall\n';

test('{} gives the default VM: flat32 at 0x1000 with the KVM-like control words', () => {
  const o = options({});
  assert.equal(o.options.mode, 'flat32');
  assert.equal(o.options.org, 0x1000);
  assert.equal(o.options.memorySize, 256 * 1024 * 1024);
  assert.equal(o.options.cpuid, undefined);
  assert.equal(o.options.costModel, undefined);
  const vm = createVm({ ...o.options, memorySize: 16 << 20, image: build(SHUTDOWN) });
  const v = vm.vcpus[0].vmcs;
  // default1 0x0401E172 | TSC offsetting (3) | HLT (7) | I/O bitmaps (25) | MSR bitmaps (28) | secondary (31)
  assert.equal(v.get('CPU_BASED_VM_EXEC_CONTROL'), 0x9601e1fa);
  // RDTSCP (3) | unrestricted guest (7)
  assert.equal(v.get('SECONDARY_VM_EXEC_CONTROL'), 0x88);
  assert.equal(v.get('PIN_BASED_VM_EXEC_CONTROL'), 0x16);
  assert.equal(v.get('EXCEPTION_BITMAP'), 0x00060040);
  assert.equal(v.get('CR0_GUEST_HOST_MASK'), 0xe0000001);
  assert.equal(v.get('CR4_GUEST_HOST_MASK'), 0x2000);
  assert.equal(v.get('CR3_TARGET_COUNT'), 0);
  assert.equal(v.getBig('TSC_OFFSET'), 0n);
  assert.equal(vm.vcpus[0].ioBitmaps.a[0x10], 0xff);
});

test('control, bitmap, mask, CR3-target and TSC overrides reach the VMCS bit-exactly', () => {
  const o = options({
    memory: { sizeMiB: 16 },
    controls: {
      primary: { HLT_EXITING: false, RDTSC_EXITING: true }, secondary: { DESC_EXITING: true }, pin: { NMI_EXITING: true },
      exit: { VM_EXIT_SAVE_IA32_PAT: true }, entry: { VM_ENTRY_LOAD_IA32_EFER: true },
      exceptionBitmap: ['#PF', 13], ioBitmap: [{ from: '0x80', exit: false }, { from: 0x8000, to: 0x8007, exit: false }],
      msrBitmap: [{ msr: '0xC0000080', write: true }, { msr: 0x174, read: true }],
      cr0: { mask: '0x80000001', readShadow: '0x11' }, cr4: { mask: 0 }, cr3Targets: ['0xA000', '0xB000'], tscOffset: '-0x10',
    },
  });
  const vm = createVm({ ...o.options, image: build(SHUTDOWN) });
  const cpu = vm.vcpus[0];
  const v = cpu.vmcs;
  assert.equal(v.get('CPU_BASED_VM_EXEC_CONTROL'), 0x9601f17a); // HLT (0x80) cleared, RDTSC (0x1000) set
  assert.equal(v.get('SECONDARY_VM_EXEC_CONTROL'), 0x8c); // + descriptor-table exiting (bit 2)
  assert.equal(v.get('PIN_BASED_VM_EXEC_CONTROL'), 0x1e); // + NMI exiting (bit 3)
  assert.equal(v.get('VM_EXIT_CONTROLS'), 0x00076dff); // default1 + save IA32_PAT (bit 18)
  assert.equal(v.get('VM_ENTRY_CONTROLS'), 0x000091ff); // default1 + load IA32_EFER (bit 15)
  assert.equal(v.get('EXCEPTION_BITMAP'), 0x6000); // vectors 13 and 14
  assert.equal(cpu.ioBitmaps.a[0x10], 0xfe); // port 0x80: byte 0x10 bit 0
  assert.equal(cpu.ioBitmaps.b[0], 0x00); // ports 0x8000-0x8007: bitmap B byte 0
  assert.equal(cpu.ioBitmaps.b[1], 0xff);
  assert.equal(cpu.msrBitmap.page[0xc10], 0x01); // write, high MSRs: 3072 + 0x80/8, bit 0
  assert.equal(cpu.msrBitmap.page[0x2e], 0x10); // read, low MSRs: 0x174/8, bit 4
  assert.equal(v.get('CR0_GUEST_HOST_MASK'), 0x80000001);
  assert.equal(v.get('CR0_READ_SHADOW'), 0x11);
  assert.equal(v.get('CR4_GUEST_HOST_MASK'), 0);
  assert.equal(v.get('CR3_TARGET_COUNT'), 2);
  assert.equal(v.get('CR3_TARGET_VALUE0'), 0xa000);
  assert.equal(v.get('CR3_TARGET_VALUE1'), 0xb000);
  assert.equal(v.getBig('TSC_OFFSET'), 0xfffffffffffffff0n);
});

test('a guest runs under the configured controls: a passed-through port does not exit', () => {
  const run = (json: unknown): number[] => {
    const vm = createVm({ ...options(json).options, image: build(`  out 0x80, al\n${SHUTDOWN}`) });
    const exits: VmExit[] = [];
    vm.events.on('exit', (e) => exits.push(e));
    assert.equal(vm.run(1000).reason, 'shutdown');
    return exits.map((e) => e.reason);
  };
  assert.deepEqual(run({ memory: { sizeMiB: 16 } }), [30, 18]); // IO_INSTRUCTION, VMCALL
  assert.deepEqual(run({ memory: { sizeMiB: 16 }, controls: { ioBitmap: [{ from: 0x80, exit: false }] } }), [18]);
});

test('a real-mode entry and CPUID overrides are passed on', () => {
  const o = options({ entry: { mode: 'real', org: '0x2000' }, cpuid: { '0x40000000': { eax: 5 } } });
  assert.equal(o.options.mode, 'real');
  assert.equal(o.options.org, undefined);
  assert.deepEqual(o.options.cpuid, { 0x40000000: { eax: 5, ebx: 0, ecx: 0, edx: 0 } });
});

test('the cost model charges cycles per exit-reason name and perExit for the rest', () => {
  const o = options({ memory: { sizeMiB: 16 }, costModel: { name: 'demo', perExit: 100, reasons: { VMCALL: 700 } } });
  const vm = createVm({ ...o.options, image: build(`  out 0x80, al\n  out 0x80, al\n${SHUTDOWN}`) });
  vm.run(1000);
  const cycles = Object.fromEntries(vm.stats.report().reasons.map((r) => [r.name, r.cycles]));
  assert.deepEqual(cycles, { IO_INSTRUCTION: 200, VMCALL: 700 });
});

test('techniques, vCPU counts and paging the VT-x core cannot run are reported plainly, all at once', () => {
  const r = toVmOptions(config({ technique: 'binary-translation', vcpus: 4, paging: 'shadow' }));
  assert.ok(!r.ok);
  assert.deepEqual(r.errors, [
    { path: 'technique', message: '"binary-translation" is not available yet; only "vtx" runs today' },
    { path: 'vcpus', message: '4 vCPUs are not available yet; the VT-x core runs one vCPU per VM' },
    { path: 'paging', message: '"shadow" paging is not available yet; use "ept"' },
  ]);
});

test('settings createVm cannot apply yet are listed, not dropped silently', () => {
  const o = options({ memory: { slots: { vga: { kind: 'mmio', base: '0xA0000', size: '0x20000' } } }, devices: { pit: { enabled: false }, pic: { enabled: false } } });
  assert.equal(o.notApplied.length, 3);
  assert.match(o.notApplied[0], /^paging: /);
  assert.match(o.notApplied[1], /^memory\.slots: .*"vga"/);
  assert.match(o.notApplied[2], /^devices: .*\(uart\)/);
  const none = options({ devices: { uart: { enabled: false }, pit: { enabled: false }, pic: { enabled: false } } });
  assert.deepEqual(none.notApplied.map((n) => n.split(':')[0]), ['paging']);
});
