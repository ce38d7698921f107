// The published schema and the validator agree: the same configurations are
// accepted by both, and each invalid one is rejected by both at the same path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildVmConfigSchema } from '../../../src/vmm/config/index';
import { validateVmConfig } from '../../../src/vmm/config/validate';
import { schemaErrors } from './schema-check';

const schema = JSON.parse(readFileSync(new URL('../../../schemas/vm-config.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;

const VALID: unknown[] = [
  {},
  { vcpus: 1, paging: 'ept', technique: 'vtx' },
  { vcpus: 8, paging: 'shadow', technique: 'paravirt' },
  { memory: { sizeMiB: 3072 } },
  { memory: { sizeMiB: 1, slots: { low: { kind: 'ram', base: 0, size: 0xa0000 }, vga: { kind: 'mmio', base: '0xA0000', size: '0x20000' }, bios: { kind: 'rom', base: '0xF0000', size: 65536 } } } },
  { controls: { primary: { HLT_EXITING: false, RDTSC_EXITING: true }, secondary: { DESC_EXITING: true }, pin: { NMI_EXITING: true }, exit: { VM_EXIT_SAVE_IA32_PAT: true }, entry: { VM_ENTRY_LOAD_IA32_EFER: false } } },
  { controls: { exceptionBitmap: ['#PF', 13, '#UD'], ioBitmap: [{ from: '0x3F8', to: '0x3FF', exit: false }, { from: 0x80 }], msrBitmap: [{ msr: '0xC0000080', write: true }, { msr: 0x174, read: true, write: false }] } },
  { controls: { cr0: { mask: '0x80000001', readShadow: 0x11 }, cr4: { mask: 0 }, cr3Targets: ['0x1000', 0x2000, 0, '0xFFFFF000'], tscOffset: '-0x1000' } },
  { controls: { tscOffset: -5000 } },
  { controls: { tscOffset: '0xFFFFFFFFFFFF0000' } },
  { cpuid: { '0x40000000': { eax: '0x40000001', ebx: 0x65707948 }, '1': { ecx: 0 } } },
  { devices: { uart: { enabled: true, port: '0x2F8', irq: 3 }, pit: { enabled: false }, pic: {}, debugExit: { enabled: true, port: 0x501 } } },
  { costModel: { name: 'kvm-skylake', perExit: 1000, reasons: { IO_INSTRUCTION: 2500, CPUID: 1200.5, HLT: 0 } } },
  { entry: { mode: 'real' } },
  { entry: { mode: 'flat32', org: '0x100000' } },
];

/** Invalid configurations the schema expresses too; the validator must report each listed path. */
const INVALID: { name: string; json: unknown; paths: string[] }[] = [
  { name: 'not an object', json: [], paths: [''] },
  { name: 'unknown top-level key', json: { vcpu: 2 }, paths: ['vcpu'] },
  { name: 'vcpus 0 and 9', json: { vcpus: 0 }, paths: ['vcpus'] },
  { name: 'vcpus too many', json: { vcpus: 9 }, paths: ['vcpus'] },
  { name: 'vcpus fractional', json: { vcpus: 1.5 }, paths: ['vcpus'] },
  { name: 'memory size 0', json: { memory: { sizeMiB: 0 } }, paths: ['memory.sizeMiB'] },
  { name: 'memory size too big', json: { memory: { sizeMiB: 4096 } }, paths: ['memory.sizeMiB'] },
  { name: 'memory not an object', json: { memory: 64 }, paths: ['memory'] },
  { name: 'slot kind', json: { memory: { slots: { a: { kind: 'flash', base: 0, size: 4096 } } } }, paths: ['memory.slots.a.kind'] },
  { name: 'slot unaligned base', json: { memory: { slots: { a: { kind: 'ram', base: 0x1234, size: 4096 } } } }, paths: ['memory.slots.a.base'] },
  { name: 'slot unaligned hex size', json: { memory: { slots: { a: { kind: 'ram', base: 0, size: '0x1800' } } } }, paths: ['memory.slots.a.size'] },
  { name: 'slot missing size', json: { memory: { slots: { a: { kind: 'ram', base: 0 } } } }, paths: ['memory.slots.a.size'] },
  { name: 'slot unknown field', json: { memory: { slots: { a: { kind: 'ram', base: 0, size: 4096, readonly: true } } } }, paths: ['memory.slots.a.readonly'] },
  { name: 'paging', json: { paging: 'npt' }, paths: ['paging'] },
  { name: 'technique', json: { technique: 'vt-x' }, paths: ['technique'] },
  { name: 'control value', json: { controls: { primary: { HLT_EXITING: 'yes' } } }, paths: ['controls.primary.HLT_EXITING'] },
  { name: 'unknown control', json: { controls: { primary: { HLT_EXITNG: true } } }, paths: ['controls.primary.HLT_EXITNG'] },
  { name: 'control in the wrong set', json: { controls: { secondary: { HLT_EXITING: true } } }, paths: ['controls.secondary.HLT_EXITING'] },
  { name: 'tertiary set is not configurable', json: { controls: { tertiary: {} } }, paths: ['controls.tertiary'] },
  { name: 'exception vector 32', json: { controls: { exceptionBitmap: [32] } }, paths: ['controls.exceptionBitmap[0]'] },
  { name: 'exception mnemonic', json: { controls: { exceptionBitmap: ['#PF', 'PF'] } }, paths: ['controls.exceptionBitmap[1]'] },
  { name: 'io port 0x10000', json: { controls: { ioBitmap: [{ from: 0xfff0, to: 0x10000 }] } }, paths: ['controls.ioBitmap[0].to'] },
  { name: 'io hex port 5 digits', json: { controls: { ioBitmap: [{ from: '0x10000' }] } }, paths: ['controls.ioBitmap[0].from'] },
  { name: 'io missing from', json: { controls: { ioBitmap: [{ to: 5 }] } }, paths: ['controls.ioBitmap[0].from'] },
  { name: 'io exit not boolean', json: { controls: { ioBitmap: [{ from: 5, exit: 1 }] } }, paths: ['controls.ioBitmap[0].exit'] },
  { name: 'msr negative', json: { controls: { msrBitmap: [{ msr: -1 }] } }, paths: ['controls.msrBitmap[0].msr'] },
  { name: 'cr0 mask too wide', json: { controls: { cr0: { mask: 0x100000000 } } }, paths: ['controls.cr0.mask'] },
  { name: 'cr4 shadow string', json: { controls: { cr4: { readShadow: '12' } } }, paths: ['controls.cr4.readShadow'] },
  { name: 'five cr3 targets', json: { controls: { cr3Targets: [1, 2, 3, 4, 5] } }, paths: ['controls.cr3Targets'] },
  { name: 'tsc offset text', json: { controls: { tscOffset: 'ten' } }, paths: ['controls.tscOffset'] },
  { name: 'cpuid leaf key', json: { cpuid: { leaf1: { eax: 0 } } }, paths: ['cpuid.leaf1'] },
  { name: 'cpuid register name', json: { cpuid: { '1': { rax: 0 } } }, paths: ['cpuid.1.rax'] },
  { name: 'cpuid register value', json: { cpuid: { '1': { eax: -1 } } }, paths: ['cpuid.1.eax'] },
  { name: 'unknown device', json: { devices: { virtio: {} } }, paths: ['devices.virtio'] },
  { name: 'uart irq 16', json: { devices: { uart: { irq: 16 } } }, paths: ['devices.uart.irq'] },
  { name: 'cost negative', json: { costModel: { reasons: { HLT: -1 } } }, paths: ['costModel.reasons.HLT'] },
  { name: 'cost unknown reason', json: { costModel: { reasons: { IO: 5 } } }, paths: ['costModel.reasons.IO'] },
  { name: 'cost empty name', json: { costModel: { name: '' } }, paths: ['costModel.name'] },
  { name: 'entry mode', json: { entry: { mode: 'protected' } }, paths: ['entry.mode'] },
];

/** Rejected by the validator only: rules a draft-07 schema cannot state. */
const BEYOND_SCHEMA: { name: string; json: unknown; path: string }[] = [
  { name: 'overlapping slots', json: { memory: { slots: { a: { kind: 'ram', base: 0, size: 0x2000 }, b: { kind: 'mmio', base: 0x1000, size: 0x1000 } } } }, path: 'memory.slots.b' },
  { name: 'empty hex slot', json: { memory: { slots: { a: { kind: 'ram', base: 0, size: '0x0000' } } } }, path: 'memory.slots.a.size' },
  { name: 'slot past 4 GiB', json: { memory: { slots: { a: { kind: 'ram', base: '0xFFFFF000', size: 0x2000 } } } }, path: 'memory.slots.a' },
  { name: 'reversed port range', json: { controls: { ioBitmap: [{ from: 0x60, to: 0x40 }] } }, path: 'controls.ioBitmap[0]' },
  { name: 'MSR outside the bitmap', json: { controls: { msrBitmap: [{ msr: 0x2000, read: true }] } }, path: 'controls.msrBitmap[0].msr' },
  { name: 'decimal CPUID leaf above 32 bits', json: { cpuid: { '4294967296': {} } }, path: 'cpuid.4294967296' },
  { name: 'UART without room for 8 ports', json: { devices: { uart: { port: 0xfffc } } }, path: 'devices.uart.port' },
  { name: 'debug-exit port inside the UART', json: { devices: { debugExit: { enabled: true, port: 0x3f9 } } }, path: 'devices.debugExit.port' },
];

test('schemas/vm-config.schema.json is the schema the code builds', () => {
  assert.deepEqual(schema, JSON.parse(JSON.stringify(buildVmConfigSchema())), 'schemas/vm-config.schema.json is stale: run npx tsx test/vmm/regen-goldens.ts');
});

test('the schema is draft-07 and every property has a description and a default', () => {
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  const missing: string[] = [];
  const visit = (s: Record<string, unknown>, path: string): void => {
    const props = s.properties as Record<string, Record<string, unknown>> | undefined;
    for (const [k, p] of Object.entries(props ?? {})) {
      const target = typeof p.$ref === 'string' ? (schema.definitions as Record<string, Record<string, unknown>>)[p.$ref.replace('#/definitions/', '')] : p;
      // pcpus and sliceInstructions default to values that depend on vcpus (createVm decides).
      const optionalWithoutDefault = ['pcpus', 'sliceInstructions', 'readShadow', 'read', 'write', 'to', 'from', 'msr', 'kind', 'base', 'size'].includes(k) || /^(eax|ebx|ecx|edx)$/.test(k) || /^[A-Z0-9_]+$/.test(k);
      if (typeof target.description !== 'string') missing.push(`${path}${k} description`);
      if (!('default' in target) && !optionalWithoutDefault) missing.push(`${path}${k} default`);
      visit(target, `${path}${k}.`);
      if (typeof target.additionalProperties === 'object') visit(target.additionalProperties as Record<string, unknown>, `${path}${k}.*.`);
      if (typeof target.items === 'object') visit(target.items as Record<string, unknown>, `${path}${k}[].`);
    }
  };
  visit(schema, '');
  assert.deepEqual(missing, []);
});

test('valid configurations pass both the schema and the validator', () => {
  for (const json of VALID) {
    assert.deepEqual(schemaErrors(schema, json), [], `schema: ${JSON.stringify(json)}`);
    assert.deepEqual(validateVmConfig(json).errors, [], `validator: ${JSON.stringify(json)}`);
  }
});

test('invalid configurations fail both, at the same path', () => {
  for (const c of INVALID) {
    const bySchema = schemaErrors(schema, c.json);
    const byValidator = validateVmConfig(c.json).errors.map((e) => e.path);
    for (const p of c.paths) {
      assert.ok(bySchema.includes(p), `${c.name}: schema does not reject ${p} (got ${JSON.stringify(bySchema)})`);
      assert.ok(byValidator.includes(p), `${c.name}: validator does not reject ${p} (got ${JSON.stringify(byValidator)})`);
    }
    // Nothing beyond the listed path: one mistake, one report.
    assert.deepEqual([...new Set(byValidator)], c.paths, c.name);
  }
});

test('rules beyond the schema: the schema accepts, the validator rejects at the path', () => {
  for (const c of BEYOND_SCHEMA) {
    assert.deepEqual(schemaErrors(schema, c.json), [], `${c.name}: the schema should accept it`);
    assert.deepEqual(validateVmConfig(c.json).errors.map((e) => e.path), [c.path], c.name);
  }
});

test('the defaults the schema advertises are the ones the validator fills in', () => {
  const r = validateVmConfig({});
  assert.ok(r.config !== undefined);
  const c = r.config;
  type Node = { properties?: Record<string, Node>; default?: unknown; allOf?: unknown; $ref?: string };
  const defs = schema.definitions as Record<string, Node>;
  const node = (path: string[]): Node => path.reduce<Node>((n, k) => {
    const next = (n.properties ?? {})[k];
    return typeof next.$ref === 'string' ? defs[next.$ref.replace('#/definitions/', '')] : next;
  }, schema as Node);
  const num = (v: unknown): number => (typeof v === 'string' ? parseInt(v, 16) : (v as number));
  assert.equal(node(['vcpus']).default, c.vcpus);
  assert.equal(node(['memory', 'sizeMiB']).default, c.memory.sizeMiB);
  assert.equal(node(['paging']).default, c.paging);
  assert.equal(node(['technique']).default, c.technique);
  assert.equal(node(['entry', 'mode']).default, c.entry.mode);
  assert.equal(num(node(['entry', 'org']).default), c.entry.org);
  assert.equal(num(node(['controls', 'cr0', 'mask']).default), c.controls.cr0.mask);
  assert.equal(num(node(['controls', 'cr4', 'mask']).default), c.controls.cr4.mask);
  assert.equal(node(['controls', 'tscOffset']).default, Number(c.controls.tscOffset));
  const bitmap = validateVmConfig({ controls: { exceptionBitmap: node(['controls', 'exceptionBitmap']).default } });
  assert.deepEqual(bitmap.config?.controls.exceptionBitmap, c.controls.exceptionBitmap);
  assert.equal(node(['devices', 'uart', 'enabled']).default, c.devices.uart.enabled);
  assert.equal(num(node(['devices', 'uart', 'port']).default), c.devices.uart.port);
  assert.equal(node(['devices', 'uart', 'irq']).default, c.devices.uart.irq);
  assert.equal(node(['devices', 'pit', 'enabled']).default, c.devices.pit.enabled);
  assert.equal(node(['devices', 'pic', 'enabled']).default, c.devices.pic.enabled);
  assert.equal(node(['devices', 'debugExit', 'enabled']).default, c.devices.debugExit.enabled);
  assert.equal(num(node(['devices', 'debugExit', 'port']).default), c.devices.debugExit.port);
  const cost = validateVmConfig({ costModel: {} }).config?.costModel;
  assert.equal(node(['costModel', 'name']).default, cost?.name);
  assert.equal(node(['costModel', 'perExit']).default, cost?.perExit);
});
