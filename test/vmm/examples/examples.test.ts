// Example guests: every examples/<dir> with an expected-exits.txt is run
// under the VMM and its exit trace compared with the golden file; each run is
// repeated to check that the trace is deterministic. Then per-example checks
// of the exit-information fields, with values worked out by hand from the SDM
// layouts (shared/reference/vmx-facts.md, sections 5 and 6).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { discoverExamples, exampleIn, runExample, formatExit, fnv1a, EXAMPLES, type Example, type ExampleRun } from './trace';
import type { VmExit } from '../../../src/vmm/vtx/index';

const examples = discoverExamples();

test('discovery finds the example directories that have an expected-exits.txt', () => {
  const names = examples.map((e) => e.name);
  for (const n of ['cpuid-hlt-io-msr', 'cr-shadows', 'exceptions']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
  for (const e of examples) assert.ok(e.asm.endsWith('.asm'));
  // A directory with a golden trace but no guest to run breaks the convention (examples/README.md).
  for (const d of readdirSync(EXAMPLES, { withFileTypes: true })) {
    if (d.isDirectory() && existsSync(join(EXAMPLES, d.name, 'expected-exits.txt'))) {
      assert.ok(exampleIn(join(EXAMPLES, d.name)) !== undefined, `examples/${d.name}: expected-exits.txt but no guest.asm or single .asm file`);
    }
  }
});

for (const ex of examples) {
  test(`${ex.name}: the exit trace equals ${ex.name}/expected-exits.txt`, () => {
    const expected = readFileSync(ex.expected, 'utf8').replace(/\r\n/g, '\n');
    const r = runExample(ex);
    assert.equal(r.trace, expected, 'regenerate with `npx tsx test/vmm/examples/regen.ts` if the change is intended');
  });

  test(`${ex.name}: two runs give the same trace (FNV-1a)`, () => {
    const a = runExample(ex);
    const b = runExample(ex);
    assert.equal(fnv1a(a.trace).toString(16), fnv1a(b.trace).toString(16));
    assert.equal(a.stop.instructions, b.stop.instructions);
  });
}

function example(name: string): Example {
  const ex = exampleIn(join(EXAMPLES, name));
  assert.ok(ex !== undefined, name);
  return ex;
}

const reasons = (r: ExampleRun): number[] => r.exits.map((e) => e.reason);
const read32 = (r: ExampleRun, label: string): number => {
  const a = r.symbols.get(label);
  assert.ok(a !== undefined, label);
  return r.vm.vcpus[0].cpu.mem.read32(a) >>> 0;
};

test('cpuid-hlt-io-msr: CPUID, I/O, MSR and HLT exits with their fields', () => {
  const r = runExample(example('cpuid-hlt-io-msr'));
  // 2 CPUID, 9 signature bytes + newline to 0xE9, 1 IN, WRMSR, RDMSR, HLT; no RDTSC exit (16).
  assert.deepEqual(reasons(r), [10, 10, ...Array<number>(10).fill(30), 30, 32, 31, 12]);
  const [cpuid0, cpuidHv] = r.exits;
  assert.equal(cpuid0.instructionLength, 2); // 0F A2
  assert.equal(cpuidHv.qualification, 0);
  // OUT imm8, AL: size 1 → bits 2:0 = 0, bit 3 = 0 (OUT), bit 4 = 0, bit 6 = 1 (immediate), port 0xE9 in 31:16.
  const out = r.exits[2];
  assert.equal(out.qualification, (0xe9 << 16) | (1 << 6));
  assert.equal(out.instructionLength, 2); // E6 E9
  // IN AL, DX: bit 3 = 1 (IN), bit 6 = 0 (port in DX), port 0x3FD.
  const inp = r.exits[12];
  assert.equal(inp.qualification, ((0x3fd << 16) | (1 << 3)) >>> 0);
  assert.equal(inp.instructionLength, 1); // EC
  assert.match(inp.why, /I\/O bitmap A bit 0x3FD set/);
  // The MSR exits name the bitmap byte: 0x174 / 8 = 0x2E, bit 4; the write bitmap starts at 0x800.
  assert.match(r.exits[13].why, /write bitmap for low MSRs bit 0x174 set \(byte 0x82E bit 4\)/);
  assert.match(r.exits[14].why, /read bitmap for low MSRs bit 0x174 set \(byte 0x2E bit 4\)/);
  for (const e of r.exits.slice(13, 15)) assert.deepEqual([e.qualification, e.instructionLength], [0, 2]);
  const hlt = r.exits[15];
  assert.deepEqual([hlt.qualification, hlt.instructionLength], [0, 1]);
  assert.equal(r.stop.reason, 'hlt');
  assert.equal(r.console, 'Hyperstep\n');
  // What the guest saw: the hypervisor signature, the MSR written through the exit, the offset TSC.
  assert.equal(read32(r, 'signature'), 0x65707948); // "Hype"
  assert.equal(read32(r, 'sysenter_cs'), 0x10);
  assert.equal(r.vm.vcpus[0].vmcs.get('GUEST_SYSENTER_CS'), 0x10, 'the WRMSR handler also updates the guest-state field');
  const tscHigh = r.vm.vcpus[0].cpu.mem.read32((r.symbols.get('tsc') ?? 0) + 4) >>> 0;
  assert.equal(tscHigh, 0x1000, 'TSC_OFFSET 0x100000000000 plus a few hundred instructions');
});

test('cr-shadows: reads return the shadow, owned-bit writes exit with the qualification the SDM gives', () => {
  const r = runExample(example('cr-shadows'));
  assert.equal(r.stop.reason, 'shutdown');
  assert.equal(r.stop.code, 0, 'every value the guest read matched (see the guest for the bits)');
  assert.deepEqual(reasons(r), [28, 28, 28, 28, 28, 28, 28, 18]);
  const q = r.exits.map((e) => e.qualification);
  // bits 3:0 CR number, 5:4 access type (0 MOV to, 1 MOV from, 2 CLTS, 3 LMSW), 6 LMSW memory, 11:8 GPR, 31:16 LMSW data.
  assert.equal(q[0], 3 << 8); // MOV CR0, EBX
  assert.equal(q[1], 2 << 4); // CLTS
  assert.equal(q[2], (0x000b << 16) | (3 << 4)); // LMSW AX, source 0xB
  assert.equal(q[3], (0x0003 << 16) | (1 << 6) | (3 << 4)); // LMSW m16, source 0x3
  assert.equal(q[4], 4); // MOV CR4, EAX
  assert.equal(q[5], (6 << 8) | 3); // MOV CR3, ESI
  assert.equal(q[6], (7 << 8) | (1 << 4) | 3); // MOV EDI, CR3
  assert.equal(r.exits[3].guestLinearAddress, r.symbols.get('msw_value'), 'LMSW with a memory operand reports its linear address');
  assert.equal(r.exits[2].guestLinearAddress ?? 0, 0);
  assert.match(r.exits[0].why, /owns bit 29 \(NW\), bit 30 \(CD\); the write changes it against the read shadow 0x60000019/);
  assert.match(r.exits[5].why, /0x30000 is none of the 1 CR3-target values/);
  // The VMM refused VMXE with #GP(0): hardware exception 13 with an error code, injected on the next entry.
  assert.equal(r.injected[4], 0x80000b0d);
  assert.equal(read32(r, 'gp_count'), 1);
  const v = r.vm.vcpus[0].vmcs;
  // PSE was written without an exit: it is in the real CR4 only; the shadow still says 0 for VMXE.
  assert.equal(v.get('GUEST_CR4'), 0x2010);
  assert.equal(v.get('CR4_READ_SHADOW'), 0);
  assert.equal(v.get('CR0_READ_SHADOW') & 8, 0, 'TS clear in the shadow after the last LMSW');
  assert.equal(v.get('GUEST_CR3'), 0x30000);
});

test('exceptions: bitmap, interruption information, reflection into the guest IDT', () => {
  const r = runExample(example('exceptions'));
  assert.equal(r.stop.reason, 'shutdown');
  assert.equal(r.stop.code, 0, 'each guest handler ran once (#PF twice) with the expected error codes');
  assert.deepEqual(reasons(r), [28, 28, 0, 0, 0, 0, 18]);
  const [ud, bp, pfRead, pfWrite] = r.exits.slice(2, 6);
  // Interruption information: bits 7:0 vector, 10:8 type, 11 error code valid, 31 valid.
  assert.equal(ud.interruptionInfo, (0x80000000 | (3 << 8) | 6) >>> 0);
  assert.equal(ud.instructionLength, 0);
  assert.equal(bp.interruptionInfo, (0x80000000 | (6 << 8) | 3) >>> 0);
  assert.equal(bp.instructionLength, 1);
  assert.equal(bp.rip, ud.rip + 2, 'INT3 reports the RIP of the INT3 itself');
  for (const pf of [pfRead, pfWrite]) assert.equal(pf.interruptionInfo, (0x80000000 | (1 << 11) | (3 << 8) | 14) >>> 0);
  assert.deepEqual([pfRead.qualification, pfRead.interruptionErrorCode], [0x200000, 0]);
  assert.deepEqual([pfWrite.qualification, pfWrite.interruptionErrorCode], [0x201000, 3]);
  assert.ok(!r.exits.some((e) => e.reason === 0 && (e.interruptionInfo & 0xff) === 13), '#GP never exits');
  // The handler re-injects each event as it came: same vector, type and (for INT3) length.
  assert.equal(r.injected[2], 0x80000306);
  assert.equal(r.injected[3], 0x80000603);
  assert.equal(r.injected[4], 0x80000b0e);
  assert.equal(read32(r, 'gp_error'), 0x28);
});

function pageFaults(run: ExampleRun): VmExit[] {
  return run.exits.filter((e) => e.reason === 0 && (e.interruptionInfo & 0xff) === 14);
}

test('exceptions: PAGE_FAULT_ERROR_CODE_MASK/MATCH filter the page faults', () => {
  const ex = example('exceptions');
  // Bit 14 set: exit when (code AND mask) = match. Mask = match = W (bit 1): only the write fault exits.
  const writes = runExample(ex, (v) => { v.vmcs.set('PAGE_FAULT_ERROR_CODE_MASK', 2); v.vmcs.set('PAGE_FAULT_ERROR_CODE_MATCH', 2); });
  assert.deepEqual(pageFaults(writes).map((e) => e.interruptionErrorCode), [3]);
  assert.match(pageFaults(writes)[0].why, /error code 0x3 AND mask 0x2 = match 0x2/);
  assert.equal(writes.stop.code, 0, 'the read fault went straight to the guest handler');
  // Bit 14 clear: exit when they differ. The same mask and match now pick the read fault.
  const reads = runExample(ex, (v) => {
    v.vmcs.set('EXCEPTION_BITMAP', v.vmcs.get('EXCEPTION_BITMAP') & ~(1 << 14));
    v.vmcs.set('PAGE_FAULT_ERROR_CODE_MASK', 2);
    v.vmcs.set('PAGE_FAULT_ERROR_CODE_MATCH', 2);
  });
  assert.deepEqual(pageFaults(reads).map((e) => [e.interruptionErrorCode, e.qualification]), [[0, 0x200000]]);
  assert.match(pageFaults(reads)[0].why, /bit 14 \(#PF\) clear and error code 0x0 AND mask 0x2 ≠ match 0x2/);
  assert.equal(reads.stop.code, 0);
});

test('trace lines: format and fingerprint', () => {
  const e: VmExit = {
    sequence: 3, vcpu: 0, reason: 30, name: 'IO_INSTRUCTION', rip: 0x1012, qualification: 0x00e90040, summary: 'OUT 0xE9, AL → port 0xE9, 1 byte',
    instructionLength: 2, instructionInfo: 0, interruptionInfo: 0, interruptionErrorCode: 0, idtVectoringInfo: 0, idtVectoringErrorCode: 0, why: 'I/O bitmap A bit 0xE9 set',
  };
  assert.equal(formatExit(e), '#3 vcpu0 30 IO_INSTRUCTION rip=0x00001012 qual=0x00E90040 (OUT 0xE9, AL → port 0xE9, 1 byte) len=2 — I/O bitmap A bit 0xE9 set');
  assert.equal(formatExit({ ...e, reason: 0, name: 'EXCEPTION_NMI', summary: undefined, qualification: 0x200000, instructionLength: 0, interruptionInfo: 0x80000b0e, interruptionErrorCode: 2 }),
    '#3 vcpu0 0 EXCEPTION_NMI rip=0x00001012 qual=0x00200000 (hardware exception, vector 14 (#PF), error code valid) len=0 intr=0x80000B0E err=0x0002 — I/O bitmap A bit 0xE9 set');
  assert.equal(formatExit({ ...e, reason: 10, name: 'CPUID', summary: undefined, qualification: 0 }, 'leaf=0x00000000'),
    '#3 vcpu0 10 CPUID rip=0x00001012 qual=0x00000000 len=2 leaf=0x00000000 — I/O bitmap A bit 0xE9 set');
  // FNV-1a 32-bit reference values.
  assert.equal(fnv1a(''), 0x811c9dc5);
  assert.equal(fnv1a('a'), 0xe40c292c);
  assert.equal(fnv1a('foobar'), 0xbf9cf968);
});
