// ExitStats with modelled time (min / max / average per reason, shares,
// drill-downs with average cycles) and its perf-kvm-stat-like text table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExitStats, type VmExit } from '../../../src/vmm/vtx/index';
import { formatExitStats } from '../../../src/vmm/vtx/stats-format';
import { defaultCostModel, DEFAULT_COST_TABLE } from '../../../src/vmm/cost/index';

function exit(reason: number, name: string, extra: Partial<VmExit> = {}): VmExit {
  return {
    sequence: 1, vcpu: 0, reason, name, rip: 0x1000, qualification: 0, instructionLength: 2, instructionInfo: 0,
    interruptionInfo: 0, interruptionErrorCode: 0, idtVectoringInfo: 0, idtVectoringErrorCode: 0, why: 'test', ...extra,
  };
}

const PER_ELEMENT = DEFAULT_COST_TABLE.stringIoPerElement + DEFAULT_COST_TABLE.instruction.string;

/** Three I/O exits of different cost (plain OUT, REP OUTSB of 4 and of 10), two CPUIDs, one RDMSR, one #UD. */
function sample(): ExitStats {
  const s = new ExitStats(defaultCostModel());
  s.record(exit(30, 'IO_INSTRUCTION', { qualification: 0x00e90000 }));
  s.record(exit(30, 'IO_INSTRUCTION', { qualification: 0x00e90030 }), { repCount: 4 });
  s.record(exit(30, 'IO_INSTRUCTION', { qualification: 0x03f80038 }), { repCount: 10 }); // INSB from 0x3F8
  s.record(exit(10, 'CPUID'), { cpuidLeaf: 0 });
  s.record(exit(10, 'CPUID'), { cpuidLeaf: 0x40000000 });
  s.record(exit(31, 'MSR_READ'), { msr: 0x40000010 });
  s.record(exit(0, 'EXCEPTION_NMI', { interruptionInfo: 0x80000306 }));
  return s;
}

test('per reason: count, share, cycles, time share, min / max / average', () => {
  const r = sample().report();
  const io = r.reasons[0];
  assert.equal(io.name, 'IO_INSTRUCTION');
  assert.equal(io.count, 3);
  assert.equal(io.share, 3 / 7);
  assert.equal(io.minCycles, 1900);
  assert.equal(io.maxCycles, 1900 + 10 * PER_ELEMENT);
  assert.equal(io.cycles, 3 * 1900 + 14 * PER_ELEMENT);
  assert.equal(io.avgCycles, io.cycles / 3);
  const total = io.cycles + 2 * 1300 + 1350 + 2100;
  assert.equal(r.totalCycles, total);
  assert.equal(io.timeShare, io.cycles / total);
  assert.equal(r.reasons.reduce((a, x) => a + x.timeShare, 0).toFixed(12), (1).toFixed(12));
  assert.deepEqual(r.reasons.map((x) => x.name), ['IO_INSTRUCTION', 'CPUID', 'EXCEPTION_NMI', 'MSR_READ'], 'by count, then by reason number');
});

test('drill-downs: port with direction, MSR with access, CPUID leaf, vector — each with count, share and average cycles', () => {
  const r = sample().report();
  assert.deepEqual(r.ioPorts.map((k) => [k.key, k.count, k.share, k.avgCycles]), [
    ['0xE9 out', 2, 2 / 3, (1900 + 1900 + 4 * PER_ELEMENT) / 2],
    ['0x3F8 in', 1, 1 / 3, 1900 + 10 * PER_ELEMENT],
  ]);
  assert.deepEqual(r.msrs.map((k) => [k.key, k.count, k.avgCycles]), [['0x40000010 read', 1, 1350]]);
  assert.deepEqual(r.cpuidLeaves.map((k) => [k.key, k.share]), [['0x0', 0.5], ['0x40000000', 0.5]]);
  assert.deepEqual(r.exceptions.map((k) => [k.key, k.cycles]), [['vector 6', 2100]]);
});

test('without a model the report has zero cycles and says so', () => {
  const s = new ExitStats();
  assert.equal(s.record(exit(10, 'CPUID')), 0);
  const r = s.report();
  assert.equal(r.model, 'none');
  assert.deepEqual([r.total, r.totalCycles, r.reasons[0].cycles, r.reasons[0].timeShare], [1, 0, 0, 0]);
});

test('the text table follows perf kvm stat report: columns, rows, total line, drill-downs', () => {
  const lines = formatExitStats(sample().report());
  assert.equal(lines[0], 'Analyze events for all VMs, all VCPUs (cost model: kvm-default):');
  const header = lines[2];
  assert.match(header, /^\s+VM-EXIT\s+Samples\s+Samples%\s+Time%\s+Min Time\s+Max Time\s+Avg time$/);
  const io = lines.find((l) => /^\s+IO_INSTRUCTION\s/.test(l));
  assert.ok(io);
  const maxIo = (1900 + 10 * PER_ELEMENT).toLocaleString('en-US');
  assert.match(io, new RegExp(`IO_INSTRUCTION\\s+3\\s+42\\.86%\\s+\\d+\\.\\d\\d%\\s+1,900cyc\\s+${maxIo}cyc\\s+[\\d,]+\\.\\d\\dcyc$`));
  // Columns line up: every row ends where the header ends.
  const rows = lines.slice(4, 8);
  assert.equal(rows.length, 4);
  for (const row of rows) assert.equal(row.length, header.length, row);
  assert.ok(lines.includes(`Total Samples:7, Total modelled time:${sample().report().totalCycles.toLocaleString('en-US')}cyc.`));
  for (const title of ['I/O ports:', 'MSRs:', 'CPUID leaves:', 'Exception vectors:']) assert.ok(lines.includes(title), title);
  assert.ok(lines.some((l) => /^\s+0xE9 out\s+2\s+66\.67%\s+[\d,]+\.\d\dcyc$/.test(l)));
  const short = formatExitStats(sample().report(), { drillDowns: false, title: 'T' });
  assert.equal(short[0], 'T');
  assert.ok(!short.includes('I/O ports:'));
});
