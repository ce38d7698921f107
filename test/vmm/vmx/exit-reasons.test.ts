// Exit-reason table against vmx-facts §1 and the SDM numbering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { EXIT_REASONS, EXIT_REASON, exitReason, exitReasonByName, decodeExitReason, encodeExitReason } from '../../../src/vmm/vmx/exit-reasons';

const REFERENCE = '../shared/reference/vmx-facts.md';

test('basic exit-reason numbers of the reasons the simulator uses', () => {
  const expected: [string, number][] = [
    ['EXCEPTION_NMI', 0], ['EXTERNAL_INTERRUPT', 1], ['TRIPLE_FAULT', 2], ['INTERRUPT_WINDOW', 7], ['NMI_WINDOW', 8], ['TASK_SWITCH', 9],
    ['CPUID', 10], ['HLT', 12], ['INVD', 13], ['INVLPG', 14], ['RDTSC', 16], ['VMCALL', 18], ['CR_ACCESS', 28], ['DR_ACCESS', 29],
    ['IO_INSTRUCTION', 30], ['MSR_READ', 31], ['MSR_WRITE', 32], ['INVALID_STATE', 33], ['MSR_LOAD_FAIL', 34], ['MONITOR_TRAP_FLAG', 37],
    ['PAUSE_INSTRUCTION', 40], ['MCE_DURING_VMENTRY', 41], ['TPR_BELOW_THRESHOLD', 43], ['APIC_ACCESS', 44], ['GDTR_IDTR', 46], ['LDTR_TR', 47],
    ['EPT_VIOLATION', 48], ['EPT_MISCONFIG', 49], ['PREEMPTION_TIMER', 52], ['XSETBV', 55], ['APIC_WRITE', 56], ['NOTIFY', 75], ['MSR_WRITE_IMM', 85],
  ];
  for (const [name, n] of expected) {
    assert.equal(EXIT_REASON[name], n, name);
    assert.equal(exitReason(n)?.name, name);
    assert.equal(exitReasonByName(name.toLowerCase())?.number, n);
  }
});

test('numbers 0-85 are all named except the reserved ones', () => {
  const reserved = [35, 38, 42, 71, 82, 83];
  for (let n = 0; n <= 85; n++) assert.equal(exitReason(n) === undefined, reserved.includes(n), `reason ${n}`);
  assert.equal(EXIT_REASONS.length, 80);
  assert.equal(new Set(EXIT_REASONS.map((r) => r.name)).size, 80, 'names unique');
  assert.equal(EXIT_REASONS.filter((r) => r.linux && !r.addedAfterLinux612).length, 62, 'Linux 6.12 defines 62 basic reasons');
  for (const r of EXIT_REASONS) assert.ok(r.sdmName.length > 0 && r.description.length > 0, r.name);
});

test('exit-reason field flags', () => {
  const ok = decodeExitReason(30);
  assert.equal(ok.basic, 30);
  assert.equal(ok.entryFailure, false);
  assert.deepEqual(ok.flags, []);
  assert.equal(ok.summary, 'IO_INSTRUCTION (30)');
  const failed = decodeExitReason(0x80000021);
  assert.equal(failed.basic, 33);
  assert.equal(failed.entryFailure, true);
  assert.deepEqual(failed.flags, ['FAILED_VMENTRY']);
  assert.equal(failed.summary, 'INVALID_STATE (33), VM-entry failure');
  assert.deepEqual(decodeExitReason(0x08000000 | 10).flags, ['ENCLAVE_MODE']);
  assert.equal(decodeExitReason(35).reason, undefined);
  assert.equal(encodeExitReason(34, true), 0x80000022);
  assert.equal(encodeExitReason(48), 0x30);
});

test('Linux names agree with the reference table row for row', { skip: !existsSync(REFERENCE) && 'shared reference not beside the repository' }, () => {
  const text = readFileSync(REFERENCE, 'utf8');
  const rowRe = /^\| (\d+) \| 0x([0-9a-f]{2}) \| ([^|]+) \| ([^|]+) \|/gm;
  let seen = 0;
  for (let m = rowRe.exec(text); m; m = rowRe.exec(text)) {
    const n = Number(m[1]);
    assert.equal(parseInt(m[2], 16), n);
    const linux = m[3].trim().replace(/\s*\*\(added after 6\.12\)\*/, '');
    const ours = exitReason(n);
    if (m[4].trim().startsWith('Reserved')) {
      assert.equal(ours, undefined, `${n} is reserved`);
    } else if (linux.startsWith('—')) {
      assert.ok(ours && !ours.linux, `${n}: not a Linux name`);
    } else {
      assert.equal(ours?.name, linux, `reason ${n}`);
      assert.ok(ours.linux);
      assert.equal(ours.addedAfterLinux612 === true, m[3].includes('added after'), `reason ${n}`);
    }
    seen++;
  }
  assert.equal(seen, 86);
});
