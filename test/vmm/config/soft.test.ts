// toSoftVmOptions: a VM configuration for the software techniques, with what
// only VT-x has reported as an error or a note, never dropped silently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseVmConfig, toSoftVmOptions, toVmOptions, type VmConfig } from '../../../src/vmm/config/index';

function config(json: Record<string, unknown>): VmConfig {
  const r = parseVmConfig(json);
  if ('errors' in r) assert.fail(JSON.stringify(r.errors));
  return r.config;
}

test('a software technique converts: RAM, org and the debug-exit port apply', () => {
  const r = toSoftVmOptions(config({ technique: 'binary-translation', memory: { sizeMiB: 16 }, entry: { org: '0x10000' }, devices: { debugExit: { enabled: true, port: '0x604' } } }));
  assert.ok(r.ok);
  assert.deepEqual(r.options, { technique: 'binary-translation', kernelRing: 1, org: 0x10000, memorySize: 16 << 20, debugExit: true, debugExitPort: 0x604 });
  assert.deepEqual(r.notApplied, []);
});

test('what needs VT-x is an error naming its field, all at once', () => {
  const r = toSoftVmOptions(config({ technique: 'paravirt', vcpus: 2, entry: { mode: 'real' }, memory: { slots: { rom: { kind: 'rom', base: '0x100000', size: '0x1000' } } } }));
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map((e) => e.path), ['vcpus', 'entry.mode', 'memory.slots']);
  assert.match(r.errors[0].message, /run one vCPU/);
});

test('what does not apply is listed', () => {
  const r = toSoftVmOptions(config({ technique: 'trap-and-emulate', paging: 'shadow', cpuid: { '0x1': { eax: 1 } }, costModel: { name: 'x' } }));
  assert.ok(r.ok);
  assert.deepEqual(r.notApplied.map((n) => n.split(':')[0]), ['paging', 'cpuid', 'costModel']);
});

test('vtx is not a software technique, and toVmOptions sends the software ones here', () => {
  const r = toSoftVmOptions(config({}));
  assert.ok(!r.ok);
  assert.equal(r.errors[0].path, 'technique');
  const v = toVmOptions(config({ technique: 'paravirt' }));
  assert.ok(!v.ok);
  assert.match(v.errors[0].message, /software VMM/);
});

test('kernelRing: 1 by default, 3 for trap-and-emulate and binary translation, refused for paravirt and vtx', () => {
  assert.equal(config({}).kernelRing, 1);
  const bt = toSoftVmOptions(config({ technique: 'binary-translation', kernelRing: 3 }));
  assert.ok(bt.ok);
  assert.equal(bt.options.kernelRing, 3);
  const pv = toSoftVmOptions(config({ technique: 'paravirt', kernelRing: 3 }));
  assert.ok(!pv.ok);
  assert.deepEqual(pv.errors.map((e) => e.path), ['kernelRing']);
  const vtx = toVmOptions(config({ kernelRing: 3 }));
  assert.ok(!vtx.ok);
  assert.match(vtx.errors[0].message, /ring 0 of VMX non-root/);
  const bad = parseVmConfig({ kernelRing: 2 });
  assert.ok('errors' in bad);
  assert.deepEqual(bad.errors, [{ path: 'kernelRing', message: 'must be 1 or 3 (the ring a software technique runs the guest kernel in), got 2' }]);
});
