// "Hyperstep: Compare EPT and Shadow Paging": one guest run to its end twice,
// under extended page tables and under shadow paging (the same VM
// configuration otherwise), and the VMM's work side by side as Markdown:
// exits by reason, modelled cycles, the shadow-paging counters, and whether
// the guest saw any difference. Kept free of the vscode module.

import type { FileAccessor } from '../debug/fileAccessor';
import { loadGuestProgram } from '../debug/guestProgram';
import { parseLaunchConfig, type PagingChoice } from '../debug/launchConfig';
import { buildVm, collectConsole } from '../debug/runtimeLaunch';
import type { MemoryCounters, VmStop } from '../vmm/vtx/index';
import type { ExitStatsReport } from '../vmm/vtx/stats';

/** Instructions per run slice; the host gets a turn between slices. */
const SLICE = 1_000_000;
const DEFAULT_LIMIT = 100_000_000;

export interface PagingRun {
  paging: PagingChoice;
  stop: VmStop;
  instructions: number;
  stats: ExitStatsReport;
  memory: MemoryCounters;
  console: string;
}

export interface PagingComparison {
  program: string;
  vm: string | undefined;
  ept: PagingRun;
  shadow: PagingRun;
}

export interface PagingCompareOptions {
  /** A VM configuration file (relative to the program's folder unless absolute); its paging is overridden. */
  vm?: string;
  /** How the guest starts; by default as `hyperstep run` decides: a boot sector (org 0x7C00 or none) in real mode, any other org in flat32 mode. */
  mode?: 'real' | 'flat32';
  maxInstructions?: number;
  /** Called between slices; a true result abandons the comparison. */
  cancelled?: () => boolean;
  progress?: (message: string) => void;
}

/** The boot sector's load address: a guest assembled for it starts in real mode. */
const BOOT_SECTOR_ORG = 0x7c00;

async function runOnce(files: FileAccessor, program: string, paging: PagingChoice, options: PagingCompareOptions): Promise<PagingRun | undefined> {
  const attributes = { program, paging, ...(options.vm !== undefined ? { vm: options.vm } : {}) };
  let config = parseLaunchConfig({ ...attributes, ...(options.mode !== undefined ? { mode: options.mode } : {}) });
  let guest = await loadGuestProgram(files, config);
  if (options.mode === undefined && guest.origin !== undefined && guest.origin !== BOOT_SECTOR_ORG) {
    config = parseLaunchConfig({ ...attributes, mode: 'flat32' });
    guest = await loadGuestProgram(files, config);
  }
  const { vm } = await buildVm(files, config, guest);
  const bytes: number[] = [];
  const sync = collectConsole(vm, (_source, b) => bytes.push(...b));
  let left = options.maxInstructions ?? DEFAULT_LIMIT;
  let instructions = 0;
  let stop: VmStop;
  for (;;) {
    if (options.cancelled?.() === true) return undefined;
    stop = vm.run(Math.min(left, SLICE));
    instructions += stop.instructions;
    left -= stop.instructions;
    sync();
    if (stop.reason !== 'limit' || left <= 0) break;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  return { paging, stop, instructions, stats: vm.stats.report(), memory: { ...vm.memory.counters }, console: String.fromCharCode(...bytes) };
}

/** Runs `program` under EPT, then under shadow paging; undefined when cancelled. Launch problems throw LaunchError. */
export async function comparePaging(files: FileAccessor, program: string, options: PagingCompareOptions = {}): Promise<PagingComparison | undefined> {
  options.progress?.('EPT');
  const ept = await runOnce(files, program, 'ept', options);
  if (ept === undefined) return undefined;
  options.progress?.('shadow paging');
  const shadow = await runOnce(files, program, 'shadow', options);
  if (shadow === undefined) return undefined;
  return { program, vm: options.vm, ept, shadow };
}

const num = (n: number): string => n.toLocaleString('en-US');

function stopText(run: PagingRun): string {
  const s = run.stop;
  if (s.reason === 'shutdown') return `shutdown (code ${s.code ?? 0})`;
  return s.reason;
}

/** Markdown: a summary table, exits by reason, and the shadow-paging counters. */
export function formatPagingMarkdown(c: PagingComparison, title: string): string {
  const { ept, shadow } = c;
  const lines: string[] = [`# ${title}`, ''];
  const same = ept.console === shadow.console;
  lines.push(
    same
      ? 'The guest cannot tell the two apart: its console output is the same under both. The VMM\'s work is not.'
      : '**The guest\'s console output differs between the two runs.**',
    '',
    '| | EPT | shadow paging |',
    '|---|---:|---:|',
    `| stop | ${stopText(ept)} | ${stopText(shadow)} |`,
    `| guest instructions | ${num(ept.instructions)} | ${num(shadow.instructions)} |`,
    `| VM exits | ${num(ept.stats.total)} | ${num(shadow.stats.total)} |`,
    `| modelled cycles in exits | ${num(ept.stats.totalCycles)} | ${num(shadow.stats.totalCycles)} |`,
    `| shadow PTE fills at #PF | ${num(ept.memory.shadowFills)} | ${num(shadow.memory.shadowFills)} |`,
    `| #PF reflected to the guest | ${num(ept.memory.shadowReflected)} | ${num(shadow.memory.shadowReflected)} |`,
    `| INVLPG exits handled | ${num(ept.memory.shadowInvlpg)} | ${num(shadow.memory.shadowInvlpg)} |`,
    `| CR3 loads handled | ${num(ept.memory.shadowCr3Loads)} | ${num(shadow.memory.shadowCr3Loads)} |`,
    `| EPT on-demand mappings | ${num(ept.memory.eptOnDemandMaps)} | ${num(shadow.memory.eptOnDemandMaps)} |`,
    '',
    '## Exits by reason',
    '',
    '| exit reason | EPT | shadow paging | cycles (EPT) | cycles (shadow) |',
    '|---|---:|---:|---:|---:|',
  );
  const reasons = new Map<number, string>();
  for (const r of [...ept.stats.reasons, ...shadow.stats.reasons]) reasons.set(r.reason, r.name);
  for (const [reason, name] of [...reasons].sort((a, b) => a[0] - b[0])) {
    const e = ept.stats.reasons.find((r) => r.reason === reason);
    const s = shadow.stats.reasons.find((r) => r.reason === reason);
    lines.push(`| ${reason} ${name} | ${num(e?.count ?? 0)} | ${num(s?.count ?? 0)} | ${num(e?.cycles ?? 0)} | ${num(s?.cycles ?? 0)} |`);
  }
  if (ept.stats.exceptions.length + shadow.stats.exceptions.length > 0) {
    lines.push('', '## Exceptions that exited', '', '| vector | EPT | shadow paging |', '|---|---:|---:|');
    const keys = [...new Set([...ept.stats.exceptions, ...shadow.stats.exceptions].map((k) => k.key))].sort();
    for (const k of keys) {
      lines.push(`| ${k} | ${num(ept.stats.exceptions.find((x) => x.key === k)?.count ?? 0)} | ${num(shadow.stats.exceptions.find((x) => x.key === k)?.count ?? 0)} |`);
    }
  }
  lines.push(
    '',
    `Program: \`${c.program}\`${c.vm !== undefined ? `; VM configuration: \`${c.vm}\` with its \`paging\` set to each in turn` : '; the default VM'}. ` +
      `Cycles come from the cost model (${ept.stats.model}), not from a stopwatch.`,
    '',
  );
  return lines.join('\n');
}
