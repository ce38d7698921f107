// The cycle cost model: arithmetic on the table, configuration overrides, and
// that a VM charges the same cycles for the same guest every time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../../src/x86/asm/index';
import { decode } from '../../../src/x86/decode/index';
import { createVm, type VmExit } from '../../../src/vmm/vtx/index';
import { CycleCostModel, DEFAULT_COST_TABLE, classifyInstruction, defaultCostModel, twoDimensionalWalkRefs } from '../../../src/vmm/cost/index';
import { parseVmConfig, toVmOptions, TableCostModel, validateVmConfig } from '../../../src/vmm/config/index';

function exit(reason: number, name: string, extra: Partial<VmExit> = {}): VmExit {
  return {
    sequence: 1, vcpu: 0, reason, name, rip: 0x1000, qualification: 0, instructionLength: 2, instructionInfo: 0,
    interruptionInfo: 0, interruptionErrorCode: 0, idtVectoringInfo: 0, idtVectoringErrorCode: 0, why: 'test', ...extra,
  };
}

function build(source: string): Uint8Array {
  const r = assemble(`bits 32\norg 0x1000\n${source}`, { fileName: 'guest.asm' });
  assert.ok(r.ok, r.diagnostics.map((d) => d.message).join('\n'));
  return r.bytes;
}

test('an exit costs the round trip plus its handler; unknown reasons take the default handler', () => {
  const m = defaultCostModel();
  const t = DEFAULT_COST_TABLE;
  assert.equal(m.cyclesFor(exit(10, 'CPUID')), t.roundTrip + t.handlers.CPUID);
  assert.equal(m.cyclesFor(exit(10, 'CPUID')), 1300);
  assert.equal(m.cyclesFor(exit(30, 'IO_INSTRUCTION', { qualification: 0x00e90000 })), 1200 + 700);
  assert.equal(m.cyclesFor(exit(57, 'RDRAND')), 1200 + t.defaultHandler);
  assert.equal(m.name, 'kvm-default');
});

test('string I/O is charged per element: REP count from the detail, one element without REP', () => {
  const m = defaultCostModel();
  const perElement = DEFAULT_COST_TABLE.stringIoPerElement + DEFAULT_COST_TABLE.instruction.string;
  const outsRep = exit(30, 'IO_INSTRUCTION', { qualification: 0x00e90030 }); // string + REP, out, 1 byte
  assert.equal(m.cyclesFor(outsRep, { repCount: 8 }), 1900 + 8 * perElement);
  assert.equal(m.cyclesFor(outsRep, { repCount: 0 }), 1900, 'REP with ECX = 0 moves nothing');
  assert.equal(m.cyclesFor(exit(30, 'IO_INSTRUCTION', { qualification: 0x00e90010 }), { repCount: 8 }), 1900 + perElement, 'no REP: one element whatever ECX holds');
  assert.deepEqual(m.breakdown(outsRep, { repCount: 2 }), { fixed: 1900, stringIo: 2 * perElement, walk: 0, total: 1900 + 2 * perElement });
});

test('page walks: EPT violations by levels walked, shadow-paging #PF by guest levels, 2D walk of a TLB miss', () => {
  const m = defaultCostModel();
  const w = DEFAULT_COST_TABLE.walkLevel;
  assert.equal(m.cyclesFor(exit(48, 'EPT_VIOLATION')), 1200 + 1000 + 4 * w);
  assert.equal(m.cyclesFor(exit(48, 'EPT_VIOLATION'), { walkLevels: 2 }), 1200 + 1000 + 2 * w);
  assert.equal(m.cyclesFor(exit(0, 'EXCEPTION_NMI', { interruptionInfo: 0x80000b0e })), 1200 + 900 + 2 * w, '#PF: two guest levels');
  assert.equal(m.cyclesFor(exit(0, 'EXCEPTION_NMI', { interruptionInfo: 0x80000306 })), 1200 + 900, '#UD: no walk');
  assert.equal(twoDimensionalWalkRefs(4, 4), 24);
  assert.equal(twoDimensionalWalkRefs(2, 4), 14);
  assert.equal(m.tlbMissCycles(), 14 * w);
});

test('reasons and perExit are flat per-exit costs that replace round trip + handler', () => {
  const m = new CycleCostModel({ reasons: { CPUID: 42 }, perExit: 7 });
  assert.equal(m.cyclesFor(exit(10, 'CPUID')), 42);
  assert.equal(m.cyclesFor(exit(12, 'HLT')), 7);
  const rep = exit(30, 'IO_INSTRUCTION', { qualification: 0x30 });
  assert.equal(m.cyclesFor(rep, { repCount: 3 }), 7 + 3 * (DEFAULT_COST_TABLE.stringIoPerElement + DEFAULT_COST_TABLE.instruction.string), 'variable terms still count');
});

test('overrides merge key by key and leave the default table untouched', () => {
  const m = new CycleCostModel({ name: 'slow-exit', roundTrip: 2000, handlers: { CPUID: 10 }, instruction: { memory: 9 } });
  assert.equal(m.cyclesFor(exit(10, 'CPUID')), 2010);
  assert.equal(m.cyclesFor(exit(12, 'HLT')), 2000 + DEFAULT_COST_TABLE.handlers.HLT);
  assert.equal(m.table.instruction.memory, 9);
  assert.equal(m.table.instruction.alu, DEFAULT_COST_TABLE.instruction.alu);
  assert.equal(DEFAULT_COST_TABLE.roundTrip, 1200);
  assert.equal(DEFAULT_COST_TABLE.handlers.CPUID, 100);
  assert.throws(() => { (m.table as { roundTrip: number }).roundTrip = 1; }, TypeError, 'the table is frozen');
});

test('instruction classes from the decoded instruction, and the cycles of a mix', () => {
  const m = defaultCostModel();
  const cls = (bytes: number[]): string => classifyInstruction(decode(new Uint8Array(bytes), 0, 32, 0));
  assert.equal(cls([0x01, 0xc8]), 'alu'); // add eax, ecx
  assert.equal(cls([0x8b, 0x03]), 'memory'); // mov eax, [ebx]
  assert.equal(cls([0x50]), 'memory'); // push eax
  assert.equal(cls([0x75, 0xfe]), 'branch'); // jnz
  assert.equal(cls([0xc3]), 'branch'); // ret
  assert.equal(cls([0xf3, 0xa4]), 'string'); // rep movsb
  assert.equal(cls([0x0f, 0xa2]), 'system'); // cpuid
  assert.equal(cls([0x0f, 0x22, 0xd8]), 'system'); // mov cr3, eax
  assert.equal(m.instructionCycles(decode(new Uint8Array([0xf3, 0xa4]), 0, 32, 0), 10), 10 * DEFAULT_COST_TABLE.instruction.string);
  assert.equal(m.guestCycles({ alu: 10, memory: 2, branch: 1 }), 10 * 1 + 2 * 4 + 1 * 2);
});

test('a VM without a costModel option uses the default model', () => {
  const vm = createVm({ image: build('  cpuid\n  cpuid\n  hlt\n') });
  vm.run(100);
  const r = vm.stats.report();
  assert.equal(r.model, 'kvm-default');
  assert.deepEqual(r.reasons.map((x) => [x.name, x.cycles]), [['CPUID', 2600], ['HLT', 1500]]);
  assert.equal(r.totalCycles, 4100);
});

test('REP OUTSB under the VMM is charged per element from ECX', () => {
  const vm = createVm({ image: build('  mov esi, msg\n  mov ecx, 5\n  mov dx, 0xe9\n  rep outsb\n  cli\n  hlt\nmsg: db "hello"\n') });
  vm.run(1000);
  const io = vm.stats.report().reasons.find((r) => r.name === 'IO_INSTRUCTION');
  assert.equal(io?.count, 1);
  assert.equal(io?.cycles, 1900 + 5 * (DEFAULT_COST_TABLE.stringIoPerElement + DEFAULT_COST_TABLE.instruction.string));
});

test('determinism: the same guest gives the same cycles, per reason and in total', () => {
  const image = build('  mov ecx, 50\n.l:\n  cpuid\n  out 0x80, al\n  loop .l\n  mov ecx, 0x40000010\n  mov eax, 3\n  xor ebx, ebx\n  vmcall\n');
  const once = (): string => {
    const vm = createVm({ image });
    vm.run(100_000);
    return JSON.stringify(vm.stats.report());
  };
  assert.equal(once(), once());
});

test('a configuration costModel extends the default table; the original fields keep their meaning', () => {
  const parsed = parseVmConfig({ costModel: { name: 'lab', roundTrip: 500, handlers: { CPUID: 50 }, instruction: { alu: 2 }, walkLevel: 10 } });
  assert.ok('config' in parsed);
  const c = parsed.config.costModel;
  assert.ok(c !== undefined);
  assert.equal(c.perExit, 0);
  assert.equal(c.handlers.HLT, DEFAULT_COST_TABLE.handlers.HLT, 'unlisted handlers keep the defaults');
  const m = new TableCostModel(c);
  assert.equal(m.name, 'lab');
  assert.equal(m.cyclesFor(exit(10, 'CPUID')), 550);
  assert.equal(m.table.instruction.alu, 2);
  assert.equal(m.tlbMissCycles(), 140);
  const o = toVmOptions(parsed.config);
  assert.ok(o.ok);
  const vm = createVm({ ...o.options, memorySize: 16 << 20, image: build('  cpuid\n  cli\n  hlt\n') });
  vm.run(100);
  assert.deepEqual(vm.stats.report().reasons.map((r) => [r.name, r.cycles]), [['CPUID', 550], ['HLT', 500 + DEFAULT_COST_TABLE.handlers.HLT]]);
  assert.equal(vm.stats.report().model, 'lab');
});

test('a bad costModel names the field', () => {
  const errors = (json: unknown): string[] => validateVmConfig(json).errors.map((e) => `${e.path}: ${e.message}`);
  assert.deepEqual(errors({ costModel: { roundTrip: -1 } }), ['costModel.roundTrip: -1 is negative; expected a number ≥ 0']);
  assert.match(errors({ costModel: { instruction: { simd: 3 } } })[0], /^costModel\.instruction\.simd: unknown instruction class/);
  assert.match(errors({ costModel: { handlers: { CPUIDD: 3 } } })[0], /^costModel\.handlers\.CPUIDD: unknown exit reason; did you mean "CPUID"\?/);
  assert.match(errors({ costModel: { eptLevels: 9 } })[0], /^costModel\.eptLevels: 9 is out of range \(0\.\.5\)/);
  assert.match(errors({ costModel: { roundtrip: 3 } })[0], /^costModel\.roundtrip: unknown field; did you mean "roundTrip"\?/);
});
