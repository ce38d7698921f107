// The validator: defaults of {}, messages that name the field and the allowed
// values, every problem reported at once, and "did you mean" suggestions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseVmConfig, formatConfigError, closest, type VmConfig } from '../../../src/vmm/config/index';

function errorsOf(json: unknown): string[] {
  const r = parseVmConfig(json);
  assert.ok('errors' in r, `expected errors for ${JSON.stringify(json)}`);
  return r.errors.map(formatConfigError);
}

function configOf(json: unknown): VmConfig {
  const r = parseVmConfig(json);
  assert.ok('config' in r, 'errors' in r ? r.errors.map(formatConfigError).join('\n') : '');
  return r.config;
}

test('{} is the default VM: one vCPU, EPT, VT-x, KVM-like exception bitmap and CR masks', () => {
  const c = configOf({});
  assert.equal(c.vcpus, 1);
  assert.equal(c.paging, 'ept');
  assert.equal(c.technique, 'vtx');
  assert.equal(c.memory.sizeMiB, 256);
  assert.deepEqual(c.memory.slots, {});
  // #UD (6), #AC (17), #MC (18): bitmap 0x00060040.
  assert.deepEqual(c.controls.exceptionBitmap, [6, 17, 18]);
  assert.equal(c.controls.cr0.mask, 0xe0000001);
  assert.equal(c.controls.cr4.mask, 0x2000);
  assert.equal(c.controls.cr0.readShadow, undefined);
  assert.deepEqual(c.controls.cr3Targets, []);
  assert.equal(c.controls.tscOffset, 0n);
  assert.deepEqual(c.devices, { uart: { enabled: true, port: 0x3f8, irq: 4 }, pit: { enabled: true }, pic: { enabled: true }, debugExit: { enabled: true, port: 0x501 }, virtioConsole: { enabled: false, port: 0xc000, irq: 5 } });
  assert.equal(c.costModel, undefined);
  assert.deepEqual(c.entry, { mode: 'flat32', org: 0x1000 });
});

test('messages name the field, the value and the allowed values', () => {
  assert.deepEqual(errorsOf({ controls: { primary: { HLT_EXITING: 'yes' } } }), ['controls.primary.HLT_EXITING: expected true or false, got "yes"']);
  assert.deepEqual(errorsOf({ memory: { sizeMiB: 0 } }), ['memory.sizeMiB: 0 is out of range (1..3072)']);
  assert.deepEqual(errorsOf({ vcpus: 'two' }), ['vcpus: expected an integer 1..8, got "two"']);
  assert.deepEqual(errorsOf({ paging: 'npt' }), ['paging: expected one of "ept", "shadow", got "npt"; did you mean "ept"?']);
  assert.deepEqual(errorsOf({ technique: 'vt-x' }), ['technique: expected one of "vtx", "trap-and-emulate", "binary-translation", "paravirt", got "vt-x"; did you mean "vtx"?']);
  assert.deepEqual(errorsOf({ controls: { ioBitmap: [{ from: 0xfff0, to: 0x10000 }] } }), ['controls.ioBitmap[0].to: 65536 is out of range (0..0xFFFF)']);
  assert.deepEqual(errorsOf({ controls: { ioBitmap: [{ from: '0x12345' }] } }), ['controls.ioBitmap[0].from: 0x12345 is out of range (0..0xFFFF)']);
  assert.deepEqual(errorsOf({ controls: { ioBitmap: [{ from: 0x60, to: 0x40 }] } }), ['controls.ioBitmap[0]: the range 0x60..0x40 is empty: "to" is below "from"']);
  assert.deepEqual(errorsOf({ controls: { msrBitmap: [{ msr: 0x40000000, read: true }] } }), ['controls.msrBitmap[0].msr: 0x40000000 is outside the MSR bitmap (0..0x1FFF and 0xC0000000..0xC0001FFF); accesses to it always exit']);
  assert.deepEqual(errorsOf({ controls: { cr3Targets: [1, 2, 3, 4, 5] } }), ['controls.cr3Targets: 5 values given; at most 4 CR3-target values exist']);
  assert.deepEqual(errorsOf({ costModel: { reasons: { HLT: -3 } } }), ['costModel.reasons.HLT: -3 is negative; expected a number ≥ 0']);
  assert.deepEqual(errorsOf(null), ['a VM configuration is a JSON object, got null']);
});

test('unknown names get the closest known name, or the list of allowed names', () => {
  assert.deepEqual(errorsOf({ controls: { primary: { HLT_EXITNG: true } } }), ['controls.primary.HLT_EXITNG: unknown control; did you mean "HLT_EXITING"?']);
  assert.deepEqual(errorsOf({ controls: { secondary: { unrestricted_guest: true } } }), ['controls.secondary.unrestricted_guest: unknown control; did you mean "UNRESTRICTED_GUEST"?']);
  assert.deepEqual(errorsOf({ vcpu: 2 }), ['vcpu: unknown field; did you mean "vcpus"?']);
  assert.deepEqual(errorsOf({ network: {} }), ['network: unknown field; allowed: vcpus, pcpus, sliceInstructions, memory, paging, technique, kernelRing, controls, cpuid, devices, costModel, entry']);
  assert.deepEqual(errorsOf({ controls: { exceptionBitmap: ['PF'] } }).length, 1);
  assert.match(errorsOf({ controls: { exceptionBitmap: ['PF'] } })[0], /^controls\.exceptionBitmap\[0\]: expected a vector 0\.\.31 or one of .*"#PF".*, got "PF"; did you mean "#PF"\?$/);
  assert.deepEqual(errorsOf({ costModel: { reasons: { IO_INSTRUCTIONS: 1 } } }), ['costModel.reasons.IO_INSTRUCTIONS: unknown exit reason; did you mean "IO_INSTRUCTION"?']);
  assert.equal(closest('XYZZY', ['HLT_EXITING', 'RDTSC_EXITING']), undefined);
});

test('every problem is reported at once, in document order', () => {
  const errors = errorsOf({
    vcpus: 0, foo: 1, memory: { sizeMiB: 5000 }, paging: 'shadows',
    controls: { primary: { HLT_EXITING: 'yes', FOO: true }, ioBitmap: [{ from: -1 }] },
    devices: { uart: { irq: 99 } }, entry: { mode: 'long' },
  });
  assert.deepEqual(errors, [
    'foo: unknown field; allowed: vcpus, pcpus, sliceInstructions, memory, paging, technique, kernelRing, controls, cpuid, devices, costModel, entry',
    'vcpus: 0 is out of range (1..8)',
    'memory.sizeMiB: 5000 is out of range (1..3072)',
    'paging: expected one of "ept", "shadow", got "shadows"; did you mean "shadow"?',
    'controls.primary.FOO: unknown control; allowed: INTR_WINDOW_EXITING, USE_TSC_OFFSETTING, HLT_EXITING, INVLPG_EXITING, MWAIT_EXITING, RDPMC_EXITING, RDTSC_EXITING, CR3_LOAD_EXITING, CR3_STORE_EXITING, TERTIARY_CONTROLS, CR8_LOAD_EXITING, CR8_STORE_EXITING, VIRTUAL_TPR, NMI_WINDOW_EXITING, MOV_DR_EXITING, UNCOND_IO_EXITING, USE_IO_BITMAPS, MONITOR_TRAP_FLAG, USE_MSR_BITMAPS, MONITOR_EXITING, PAUSE_EXITING, SEC_CONTROLS',
    'controls.primary.HLT_EXITING: expected true or false, got "yes"',
    'controls.ioBitmap[0].from: -1 is out of range (0..0xFFFF)',
    'devices.uart.irq: 99 is out of range (0..15)',
    'entry.mode: expected one of "real", "flat32", got "long"',
  ]);
});

test('overlapping memory slots name both slots and ranges', () => {
  assert.deepEqual(errorsOf({ memory: { slots: {
    low: { kind: 'ram', base: 0, size: '0xA0000' },
    vga: { kind: 'mmio', base: '0x9F000', size: '0x21000' },
    bios: { kind: 'rom', base: '0xF0000', size: '0x10000' },
  } } }), ['memory.slots.vga: [0x9F000, 0xC0000) overlaps slot "low" [0x0, 0xA0000)']);
  assert.deepEqual(errorsOf({ memory: { slots: { a: { kind: 'ram', base: 0x1800, size: 4096 } } } }), ['memory.slots.a.base: 0x1800 is not a multiple of 4 KiB (0x1000)']);
  assert.deepEqual(errorsOf({ memory: { slots: { a: { base: 0 } } } }), ['memory.slots.a.kind: required field is missing', 'memory.slots.a.size: required field is missing']);
});

test('hex strings, mnemonics and signed TSC offsets are converted', () => {
  const c = configOf({
    memory: { slots: { rom: { kind: 'rom', base: '0xFFFF0000', size: '0x10000' } } },
    controls: {
      primary: { HLT_EXITING: false }, exceptionBitmap: ['#PF', 13, '#PF'],
      ioBitmap: [{ from: '0x3f8', to: '0x3FF', exit: false }], msrBitmap: [{ msr: '0xC0000080', write: true }],
      cr0: { readShadow: '0x60000011' }, cr3Targets: ['0xA000'], tscOffset: '-0x10',
    },
    cpuid: { '0x40000000': { eax: '0x40000001' }, '7': { ebx: 1 } },
    entry: { org: '0x100000' },
  });
  assert.deepEqual(c.memory.slots.rom, { kind: 'rom', base: 0xffff0000, size: 0x10000 });
  assert.deepEqual(c.controls.sets.primary, { HLT_EXITING: false });
  assert.deepEqual(c.controls.exceptionBitmap, [13, 14]);
  assert.deepEqual(c.controls.ioBitmap, [{ from: 0x3f8, to: 0x3ff, exit: false }]);
  assert.deepEqual(c.controls.msrBitmap, [{ msr: 0xc0000080, write: true }]);
  assert.equal(c.controls.cr0.readShadow, 0x60000011);
  assert.equal(c.controls.tscOffset, 0xfffffffffffffff0n);
  assert.deepEqual(c.cpuid, { 0x40000000: { eax: 0x40000001, ebx: 0, ecx: 0, edx: 0 }, 7: { eax: 0, ebx: 1, ecx: 0, edx: 0 } });
  assert.equal(c.entry.org, 0x100000);
});
