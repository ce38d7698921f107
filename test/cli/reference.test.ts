// `hyperstep reference` through the built dist/cli.js (npm test builds it first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cli } from './harness';


test('reference exits: aligned rows with number, hex, name, SDM name, description', () => {
  const r = cli('reference', 'exits');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const io = lines.find((l) => /^30 /.test(l));
  assert.ok(io, 'row for exit 30');
  assert.match(io, /^30\s+0x1E\s+IO_INSTRUCTION\s+I\/O Instruction\s+guest executed IN\/OUT/);
  assert.match(r.stdout, /^48\s+0x30\s+EPT_VIOLATION\s+EPT Violation\s+/m);
  assert.match(r.stdout, /^31\s+0x80000000\s+FAILED_VMENTRY\s+VM-entry failure$/m);
  const header = lines[1];
  assert.equal(io.indexOf('IO_INSTRUCTION'), header.indexOf('NAME'), 'name column aligned with its header');
  assert.equal(lines.filter((l) => /^\d+\s+0x[0-9A-F]{2}\s/.test(l)).length, 80);
});

test('reference exits --json', () => {
  const r = cli('reference', 'exits', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const io = j.exitReasons.find((e: { number: number }) => e.number === 30);
  assert.equal(io.name, 'IO_INSTRUCTION');
  assert.equal(io.sdmName, 'I/O Instruction');
  assert.equal(j.flags.find((f: { bit: number }) => f.bit === 31).name, 'FAILED_VMENTRY');
});

test('reference vmcs: encodings, widths and groups', () => {
  const r = cli('reference', 'vmcs');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^0x681E\s+GUEST_RIP\s+natural\s+guest-state\s+/m);
  assert.match(r.stdout, /^0x4402\s+VM_EXIT_REASON\s+32\s+exit-information\s+/m);
  assert.match(r.stdout, /^0x201A\s+EPT_POINTER\s+64\s+execution-control\s+/m);
  assert.match(r.stdout, /^0x4000\s+PIN_BASED_VM_EXEC_CONTROL\s+32\s+execution-control\s+/m);
  assert.match(r.stdout, /^0x0802\s+GUEST_CS_SELECTOR\s+16\s+guest-state\s+/m);
  assert.match(r.stdout, /^0x4012\s+VM_ENTRY_CONTROLS\s+32\s+entry-control\s+/m);
  const j = JSON.parse(cli('reference', 'vmcs', '--json').stdout);
  const rip = j.fields.find((f: { name: string }) => f.name === 'GUEST_RIP');
  assert.deepEqual({ encoding: rip.encoding, encodingHex: rip.encodingHex, width: rip.width, type: rip.type, readOnly: rip.readOnly }, {
    encoding: 0x681e, encodingHex: '0x681E', width: 'natural', type: 'guest-state', readOnly: false,
  });
  assert.equal(j.fields.find((f: { name: string }) => f.name === 'EXIT_QUALIFICATION').readOnly, true);
});

test('reference controls: each control word with bit, mask and name', () => {
  const r = cli('reference', 'controls');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^primary processor-based VM-execution controls — CPU_BASED_VM_EXEC_CONTROL \(0x4002\), default1 bits 0x0401E172$/m);
  assert.match(r.stdout, /^7\s+0x00000080\s+HLT_EXITING\s+VM exit on HLT$/m);
  assert.match(r.stdout, /^25\s+0x02000000\s+USE_IO_BITMAPS\s/m);
  assert.match(r.stdout, /^1\s+0x00000002\s+EPT\s/m);
  const j = JSON.parse(cli('reference', 'controls', '--json').stdout);
  const pin = j.controlSets.find((s: { id: string }) => s.id === 'pin');
  assert.equal(pin.field, 'PIN_BASED_VM_EXEC_CONTROL');
  assert.equal(pin.default1, 0x16);
  assert.deepEqual(pin.controls.find((c: { name: string }) => c.name === 'NMI_EXITING'), { bit: 3, name: 'NMI_EXITING', description: 'VM exit on NMIs', source: 'linux', mask: 8 });
});

test('reference errors lists the VM-instruction error numbers', () => {
  const r = cli('reference', 'errors');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^12\s+VMXERR_UNSUPPORTED_VMCS_COMPONENT\s+VMREAD\/VMWRITE from\/to unsupported VMCS component$/m);
});

test('reference with no table or an unknown one is a usage error (exit 2)', () => {
  const none = cli('reference');
  assert.equal(none.code, 2);
  assert.match(none.stderr, /reference needs one table: exits, vmcs, controls, errors/);
  const bad = cli('reference', 'msrs');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown table 'msrs'/);
  assert.equal(cli('reference', 'exits', '--csv').code, 2);
});
