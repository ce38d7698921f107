// The Technique scope: what a software technique costs and does, where the
// VT-x views show the VMCS and the exit statistics. Traps into the VMM by
// kind with their modelled cycles, the virtualization holes so far, the
// binary translator's cache with the block at EIP instruction by instruction
// (original beside translated), the paravirtual hypercall table, the shadow
// page tables' counters.
import type { HoleEvent, SoftVm, TranslatedBlock, TrapStat } from '../../vmm/soft/index';
import { PV_HYPERCALLS } from '../../vmm/soft/index';
import { CS } from '../../x86/cpu/cpu';
import type { FormatOptions, VarNode } from './node';
import { fmtNum, group, hex, leaf, memRef } from './format';

const n = (x: number): string => x.toLocaleString('en-US');
const plural = (x: number, one: string, many = `${one}s`): string => `${n(x)} ${x === 1 ? one : many}`;

/** One hole: its instruction and address, what the guest saw and expected, and why. */
export function holeNodes(h: HoleEvent, fmt: FormatOptions): VarNode[] {
  return [
    leaf('instruction', h.instruction, { type: `${h.length} byte${h.length === 1 ? '' : 's'}`, evaluateName: 'instruction' }),
    leaf('address', fmtNum(h.rip, 32, fmt), { memoryReference: memRef('gva', h.rip), evaluateName: 'rip' }),
    leaf('saw', h.saw, { type: 'what the instruction gave the guest (or left in force)' }),
    leaf('expected', h.expected, { type: 'what the guest kernel expected, had it run in ring 0' }),
    leaf('why', h.why),
  ];
}

function holeNode(h: HoleEvent, index: number, fmt: FormatOptions): VarNode {
  return group(`#${index + 1} ${hex(h.rip, 8)} ${h.instruction}`, `saw ${h.saw}`, () => holeNodes(h, fmt), { memoryReference: memRef('gva', h.rip) });
}

/** The holes so far, a page at a time (the kernel's critical sections make hundreds). */
export function holesNode(vm: SoftVm, fmt: FormatOptions): VarNode {
  const holes = vm.holes;
  const why = vm.technique === 'paravirt' ? 'none: the paravirtualized kernel uses hypercalls, not sensitive instructions' : vm.technique === 'binary-translation' ? 'the translator rewrites the kernel\'s sensitive instructions: only user code can have holes' : 'sensitive instructions that do not trap in the kernel ring';
  return group('Virtualization holes', holes.length === 0 ? `none so far (${why})` : `${plural(holes.length, 'hole')}; the last: ${holes[holes.length - 1].instruction} at ${hex(holes[holes.length - 1].rip)}`, () => holes.map((h, i) => holeNode(h, i, fmt)), {
    indexedCount: holes.length,
    childrenRange: (start, count) => holes.slice(start, start + count).map((h, i) => holeNode(h, start + i, fmt)),
  });
}

function statNodes(stats: readonly TrapStat[]): VarNode[] {
  return stats.map((s) => leaf(s.key, `${plural(s.count, 'time')}, ${n(s.cycles)} cycles`, { type: `${(s.cycles / s.count).toFixed(1)} cycles each` }));
}

/** Traps into the VMM by kind (callouts apart), with their modelled cycles. */
export function trapsNode(vm: SoftVm): VarNode {
  const r = vm.stats.report();
  const traps = r.byKind.filter((k) => !k.key.startsWith('callout: '));
  return group('Traps into the VMM', `${plural(r.traps, 'trap')}, ${n(r.trapCycles)} modelled cycles`, () => statNodes(traps), { indexedCount: traps.length });
}

/** A translated block, one child per instruction: the original beside what runs in its place. */
export function blockNode(name: string, b: TranslatedBlock, eip: number | undefined): VarNode {
  const callouts = b.instrs.filter((i) => i.callout).length;
  return group(name, `${hex(b.start, 8)}: ${plural(b.instrs.length, 'instruction')}, ${plural(callouts, 'callout')}, run ${plural(b.runs, 'time')}${b.links.size > 0 ? `, chained to ${[...b.links.keys()].map((a) => hex(a)).join(', ')}` : ''}`, () =>
    b.instrs.map((i) => leaf(`${hex(i.address, 8)}  ${i.text}`, `→  ${i.callout ? `callout: ${i.translated}` : 'native'}${i.address === eip ? '  ◀ EIP' : ''}`, {
      type: i.callout ? 'rewritten into a call of the VMM\'s emulation' : 'runs as is, in the kernel ring',
      memoryReference: memRef('gva', i.address),
    })), { memoryReference: memRef('gva', b.start) });
}

function translationNode(vm: SoftVm, eip: number): VarNode | null {
  const tr = vm.translator;
  if (tr === null) return null;
  const t = vm.stats.report().translation;
  const callouts = vm.stats.report().byKind.filter((k) => k.key.startsWith('callout: '));
  const cached = tr.cached();
  return group('Translation cache', `${plural(cached.length, 'block')} cached, ${n(t.chained)} chained / ${n(t.lookups)} lookups, ${plural(t.invalidations, 'invalidation')}`, () => {
    const here = tr.blockAt(eip);
    return [
      here === undefined ? leaf('block at EIP', `none: ${hex(eip)} is not in a translated block (user code, or not run yet)`) : blockNode('block at EIP', here, eip),
      leaf('blocks translated', `${n(t.blocks)} (${n(t.instructions)} instructions)`),
      leaf('chained transitions', n(t.chained), { type: 'a block went straight to a successor it had gone to before: no lookup' }),
      leaf('lookups', n(t.lookups), { type: 'translation-cache lookups at unchained block exits' }),
      leaf('invalidations', n(t.invalidations), { type: 'blocks dropped by writes to the page their code came from' }),
      group('callouts', `${plural(t.callouts, 'callout')}, ${n(t.cycles)} cycles with translation and lookups`, () => statNodes(callouts)),
      group('blocks', plural(cached.length, 'block'), () => cached.map((b) => blockNode(`#${b.id}`, b, eip)), {
        indexedCount: cached.length,
        childrenRange: (start, count) => cached.slice(start, start + count).map((b) => blockNode(`#${b.id}`, b, eip)),
      }),
    ];
  });
}

function hypercallsNode(vm: SoftVm, fmt: FormatOptions): VarNode | null {
  const pv = vm.pv;
  if (pv === null) return null;
  const calls = new Map(vm.stats.report().hypercalls.map((h) => [h.key, h]));
  const total = [...calls.values()].reduce((s, h) => s + h.count, 0);
  return group('Hypercalls', `${plural(total, 'call')} through int 0x82`, () => [
    ...PV_HYPERCALLS.map((name, nr) => {
      const h = calls.get(name);
      return leaf(`${nr} ${name}`, h === undefined ? 'not called' : `${plural(h.count, 'call')}, ${n(h.cycles)} cycles`);
    }),
    group('trap table', 'the handlers the kernel registered with SET_TRAP_TABLE', () => pv.trapTable().map((e) =>
      leaf(`vector ${fmtNum(e.vector, 8, fmt)}`, `${fmtNum(e.cs, 16, fmt)}:${fmtNum(e.offset, 32, fmt)}`, { type: `int n from DPL ${e.dpl}${e.masksEvents ? ', events masked on entry' : ''}` }))),
  ]);
}

function shadowNode(vm: SoftVm): VarNode {
  const s = vm.shadow.counters;
  return group('Shadow page tables', `${n(s.fills)} fills, ${n(s.reflected)} faults reflected, ${n(s.flushes)} flushes`, () => [
    leaf('fills', n(s.fills), { type: 'a #PF the guest did not cause: the VMM copied the guest\'s mapping into the shadow' }),
    leaf('reflected', n(s.reflected), { type: 'a #PF the guest\'s own tables call for: delivered to the guest' }),
    leaf('flushes', n(s.flushes), { type: 'the guest loaded CR3 (or switched paging): the shadow was emptied' }),
    leaf('INVLPG', n(s.invlpg)),
  ]);
}

export function techniqueNodes(vm: SoftVm, fmt: FormatOptions): VarNode[] {
  const eip = (vm.cpu.seg[CS].base + vm.cpu.eip) >>> 0;
  const r = vm.stats.report();
  return [
    leaf('technique', `${vm.technique}: the guest kernel runs in ring ${vm.ring}`, { type: 'docs/techniques.md' }),
    trapsNode(vm),
    holesNode(vm, fmt),
    ...[translationNode(vm, eip), hypercallsNode(vm, fmt)].filter((x): x is VarNode => x !== null),
    shadowNode(vm),
    leaf('VMM time', `${n(r.vmmCycles)} modelled cycles`, { type: `cost model ${r.model}: traps, callouts, translation and lookups` }),
    leaf('VMCS, EPT, exit statistics', `none under ${vm.technique}: there is no VMX; the traps above are its VM exits`),
  ];
}
