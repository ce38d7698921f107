// The Exit statistics scope: the `perf kvm stat report` table as rows (one
// per exit reason, with samples, shares and min/max/avg modelled cycles), the
// drill-downs per port, MSR, CPUID leaf and vector, the memory counters and
// the vCPU scheduler.
import type { Vm } from '../../vmm/vtx/index';
import type { KeyStat } from '../../vmm/vtx/stats';
import type { FormatOptions, VarNode } from './node';
import { group, leaf } from './format';

export const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
const cycles = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(1));

function keyRows(title: string, rows: readonly KeyStat[], what: string): VarNode {
  return group(title, rows.length === 0 ? 'none' : `${rows.length} ${what}`, () => rows.map((k) => ({
    ...leaf(k.key, `${k.count} exits, ${pct(k.share)}, avg ${cycles(k.avgCycles)} cycles`),
    children: () => [leaf('samples', String(k.count)), leaf('share of this drill-down', pct(k.share)), leaf('cycles', cycles(k.cycles)), leaf('average cycles', cycles(k.avgCycles))],
  })));
}

/** Counts and cycles are decimal in both radixes (`fmt` is accepted for a uniform builder signature). */
export function statsNodes(vm: Vm, _fmt: FormatOptions): VarNode[] {
  const r = vm.stats.report();
  const out: VarNode[] = [
    group('Exit reasons', `${r.total} exits, ${r.totalCycles} cycles (model ${r.model})`, () => r.reasons.map((s) => ({
      ...leaf(`${s.name} (${s.reason})`, `${s.count} samples, ${pct(s.share)}, time ${pct(s.timeShare)}, avg ${cycles(s.avgCycles)} cycles`, { type: 'VM-exit reason' }),
      children: () => [
        leaf('samples', String(s.count)),
        leaf('samples %', pct(s.share)),
        leaf('time %', pct(s.timeShare)),
        leaf('cycles', cycles(s.cycles)),
        leaf('min cycles', cycles(s.minCycles)),
        leaf('max cycles', cycles(s.maxCycles)),
        leaf('avg cycles', cycles(s.avgCycles)),
      ],
    }))),
    keyRows('I/O ports', r.ioPorts, 'port/direction pairs'),
    keyRows('MSRs', r.msrs, 'MSR/access pairs'),
    keyRows('CPUID leaves', r.cpuidLeaves, 'leaves'),
    keyRows('Exceptions', r.exceptions, 'vectors'),
  ];
  const c = vm.memory.counters;
  out.push(group('Memory counters', `${vm.memory.mode} paging`, () => Object.entries(c).map(([k, v]) => leaf(k, String(v)))));
  const view = vm.scheduler.view();
  out.push(group('Scheduler', `${view.pcpus.length} pCPU, ${view.vcpus.length} vCPU, slice ${view.slice}, round ${view.round}`, () => [
    leaf('now', String(view.now)),
    leaf('running', view.running < 0 ? 'none' : `vCPU ${view.running}`),
    group('pCPUs', String(view.pcpus.length), () => view.pcpus.map((p) => ({
      ...leaf(`pCPU ${p.index}`, `loaded vCPU ${p.loaded}, queue [${p.queue.join(', ')}], busy ${p.busy}, idle ${p.idle}`),
      children: () => Object.entries(p).map(([k, v]) => leaf(k, Array.isArray(v) ? `[${v.join(', ')}]` : String(v))),
    }))),
    group('vCPUs', String(view.vcpus.length), () => view.vcpus.map((v) => ({
      ...leaf(`vCPU ${v.index}`, `${v.state}${v.pcpu >= 0 ? ` on pCPU ${v.pcpu}` : ''}, ${v.instructions} instructions, steal ${v.steal}`),
      children: () => Object.entries(v).map(([k, x]) => leaf(k, String(x))),
    }))),
  ]));
  return out;
}
