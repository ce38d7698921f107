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
  // EPT (1) | RDTSCP (3) | unrestricted guest (7)
  assert.equal(v.get('SECONDARY_VM_EXEC_CONTROL'), 0xaa); // EPT, RDTSCP, VPID, unrestricted guest
  // default1 0x16 | external-interrupt exiting (0) | NMI exiting (3) | virtual NMIs (5)
  assert.equal(v.get('PIN_BASED_VM_EXEC_CONTROL'), 0x3f);
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
  assert.equal(v.get('SECONDARY_VM_EXEC_CONTROL'), 0xae); // + descriptor-table exiting (bit 2)
  assert.equal(v.get('PIN_BASED_VM_EXEC_CONTROL'), 0x3f); // NMI exiting (bit 3) is a default already
  assert.equal(v.get('VM_EXIT_CONTROLS'), 0x0007edff); // default1 + acknowledge interrupt on exit (bit 15, default) + save IA32_PAT (bit 18)
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

test('software techniques and paging the VT-x core cannot run are reported plainly, all at once', () => {
  const r = toVmOptions(config({ technique: 'binary-translation', vcpus: 4, paging: 'shadow', entry: { mode: 'real' } }));
  assert.ok(!r.ok);
  assert.deepEqual(r.errors, [
    { path: 'technique', message: '"binary-translation" runs on the software VMM, not VT-x: convert it with toSoftVmOptions' },
    { path: 'paging', message: '"shadow" paging cannot run a real-mode guest (real mode needs "unrestricted guest", which requires EPT); use "ept" or entry.mode "flat32"' },
  ]);
});

test('settings createVm cannot apply yet are listed, not dropped silently', () => {
  const o = options({ memory: { slots: { vga: { kind: 'mmio', base: '0xFEC00000', size: '0x1000' } } }, devices: { pit: { enabled: false }, pic: { enabled: false } } });
  assert.equal(o.notApplied.length, 1);
  assert.match(o.notApplied[0], /^devices: the PC platform is attached whole; pit, pic cannot be left out/);
  assert.deepEqual(o.options.platform, { debugExitPort: 0x501, debugExit: true });
  const none = options({ devices: { uart: { enabled: false }, pit: { enabled: false }, pic: { enabled: false }, debugExit: { enabled: false } } });
  assert.deepEqual(none.notApplied, []);
  assert.equal(none.options.platform, false);
});

test('slots inside guest RAM: RAM and ROM keep its memory, MMIO makes a hole (the docs/vm-config.md example)', () => {
  const o = options({ memory: { sizeMiB: 16, slots: {
    low: { kind: 'ram', base: 0, size: '0xA0000' }, vga: { kind: 'mmio', base: '0xA0000', size: '0x20000' }, bios: { kind: 'rom', base: '0xF0000', size: '0x10000' },
  } } });
  const vm = createVm({ ...o.options, image: build(`  mov eax, [0xF0000]\n  mov [0x100000], eax\n  mov [0xA0000], eax\n${SHUTDOWN}`) });
  assert.deepEqual(vm.memory.slots.list().filter((s) => s.name !== 'lapic').map((s) => [s.name, s.kind, s.gpa, s.size]), [
    ['low', 'ram', 0, 0xa0000], ['vga', 'mmio', 0xa0000, 0x20000], ['ram', 'ram', 0xc0000, 0x30000], ['bios', 'ram', 0xf0000, 0x10000], ['ram.1', 'ram', 0x100000, 0xf00000],
  ]);
  const stop = vm.run(1000);
  assert.equal(stop.reason, 'error');
  assert.match(stop.message, /GPA 0xa0000 .* is in MMIO slot "vga", which has no device/);
});

test('paging and memory slots reach createVm: shadow paging runs, a ROM slot is readable and refuses writes', () => {
  const o = options({
    paging: 'shadow', memory: { sizeMiB: 16, slots: { rom: { kind: 'rom', base: '0x2000000', size: '0x1000' }, dev: { kind: 'mmio', base: '0xFEC00000', size: '0x1000' } } },
  });
  assert.equal(o.options.paging, 'shadow');
  assert.deepEqual(o.options.memory, { slots: [{ name: 'rom', kind: 'rom', gpa: 0x2000000, size: 0x1000 }, { name: 'dev', kind: 'mmio', gpa: 0xfec00000, size: 0x1000 }] });
  const vm = createVm({ ...o.options, image: build(`  mov eax, [0x2000000]\n  mov [0x2000000], eax\n${SHUTDOWN}`) });
  assert.equal(vm.vcpus[0].vmcs.get('SECONDARY_VM_EXEC_CONTROL') & 0x82, 0); // neither EPT nor unrestricted guest
  const stop = vm.run(1000);
  assert.equal(stop.reason, 'error');
  assert.match(stop.message, /writes ROM slot "rom" at GPA 0x2000000/);
  const bad = toVmOptions(config({ memory: { sizeMiB: 16, slots: { top: { kind: 'ram', base: '0xFFF000', size: '0x2000' } } } }));
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors, [{ path: 'memory.slots.top', message: 'slot [0xfff000, 0x1001000) crosses the end of guest RAM at 0x1000000 (memory.sizeMiB)' }]);
});

test('vcpus, pcpus and sliceInstructions reach createVm; left out, the VM picks its scheduling defaults', () => {
  const o = options({ vcpus: 3, pcpus: 2, sliceInstructions: 500 });
  assert.deepEqual([o.options.vcpus, o.options.pcpus, o.options.sliceInstructions], [3, 2, 500]);
  const vm = createVm({ ...o.options, memorySize: 16 << 20, image: build(SHUTDOWN) });
  assert.equal(vm.vcpus.length, 3);
  assert.equal(vm.scheduler.pcpuCount, 2);
  assert.equal(vm.sliceInstructions, 500);
  const d = options({});
  assert.deepEqual([d.options.vcpus, d.options.pcpus, d.options.sliceInstructions], [undefined, undefined, undefined]);
  const bad = parseVmConfig({ pcpus: 0, sliceInstructions: 1.5 });
  assert.deepEqual('errors' in bad ? bad.errors.map((e) => e.path) : [], ['pcpus', 'sliceInstructions']);
});

test('devices.virtioConsole attaches the virtio console beside the platform', () => {
  const o = options({ devices: { virtioConsole: { enabled: true, port: '0xD000', irq: 11 } } });
  assert.deepEqual(o.notApplied, []);
  assert.deepEqual(o.options.platform, { debugExitPort: 0x501, debugExit: true, virtioConsole: { port: 0xd000, irq: 11 } });
  const bad = parseVmConfig({ devices: { virtioConsole: { enabled: true, irq: 4 } } });
  assert.ok('errors' in bad);
  assert.match(bad.errors.map((e) => `${e.path}: ${e.message}`).join('\n'), /devices\.virtioConsole\.irq: IRQ 4 is already the UART's/);
});
