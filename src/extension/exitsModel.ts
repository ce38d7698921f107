// What the Hyperstep view and the status bar know about the running guest,
// built from the session's custom events (protocol.ts). Plain data and text,
// no vscode types, so the tree's content is tested directly.

import {
  EXIT_EVENT, SOFT_STATS_EVENT, STATE_EVENT, STATS_EVENT, TRAP_EVENT,
  type ExitBatchEventBody, type ExitEventBody, type HoleEventBody, type SoftStatsEventBody, type StateEventBody, type StatsEventBody, type TrapBatchEventBody, type TrapEventBody,
} from '../debug/protocol';

/** Recent exits (traps, holes) kept for the view; older ones drop off (the statistics still count them). */
export const RECENT_EXITS = 200;

/** What selecting a row reveals: a VM exit, a trap into the software VMM, or a virtualization hole. */
export type RevealTarget = ExitEventBody | TrapEventBody | HoleEventBody;

export interface TreeRow {
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  /** Icon name (a codicon id). */
  icon?: string;
  children?: TreeRow[];
  /** Set on exit, trap and hole rows: selecting the row reveals this place. */
  exit?: RevealTarget;
}

const hex = (n: number, width = 0): string => `0x${(n >>> 0).toString(16).toUpperCase().padStart(width, '0')}`;
const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;

function isBatch(body: unknown): body is ExitBatchEventBody {
  return typeof body === 'object' && body !== null && Array.isArray((body as ExitBatchEventBody).exits);
}

function isTrap(t: unknown): t is TrapEventBody {
  const b = t as TrapEventBody | null;
  return typeof b === 'object' && b !== null && typeof b.seq === 'number' && typeof b.key === 'string' && typeof b.rip === 'number';
}

function isHole(h: unknown): h is HoleEventBody {
  const b = h as HoleEventBody | null;
  return typeof b === 'object' && b !== null && typeof b.sequence === 'number' && typeof b.instruction === 'string' && typeof b.rip === 'number';
}

function isSoftStats(body: unknown): body is SoftStatsEventBody {
  const b = body as SoftStatsEventBody | null;
  return typeof b === 'object' && b !== null && typeof b.technique === 'string' && Array.isArray(b.byKind) && typeof b.traps === 'number';
}

/** Keeps the newest `RECENT_EXITS` of a list ordered by `key`. */
function keepRecent<T>(list: T[], more: T[], key: (x: T) => number): void {
  list.push(...more);
  list.sort((a, b) => key(a) - key(b));
  if (list.length > RECENT_EXITS) list.splice(0, list.length - RECENT_EXITS);
}

function isExit(body: unknown): body is ExitEventBody {
  const b = body as ExitEventBody | null;
  return typeof b === 'object' && b !== null && typeof b.reason === 'number' && typeof b.sequence === 'number' && typeof b.rip === 'number';
}

export class ExitsModel {
  private exits: ExitEventBody[] = [];
  private stats: StatsEventBody | undefined;
  private state: StateEventBody | undefined;
  /** Exits seen since the last state event, added to its count until the next one. */
  private exitsSinceState = 0;
  private totalExits = 0;
  /** Under a software technique: its name (from the traps, statistics or state events), traps, holes, statistics. */
  private technique: string | undefined;
  private traps: TrapEventBody[] = [];
  private holes: HoleEventBody[] = [];
  private totalTraps = 0;
  private totalHoles = 0;
  private softStats: SoftStatsEventBody | undefined;
  private readonly listeners: (() => void)[] = [];

  onDidChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /** Takes one custom event; returns false for events that are not ours or malformed. */
  accept(event: string, body: unknown): boolean {
    switch (event) {
      case EXIT_EVENT: {
        const list = isBatch(body) ? body.exits : [body];
        const good = list.filter(isExit);
        if (good.length === 0) return false;
        this.exits.push(...good);
        this.exits.sort((a, b) => a.sequence - b.sequence);
        if (this.exits.length > RECENT_EXITS) this.exits.splice(0, this.exits.length - RECENT_EXITS);
        this.exitsSinceState += good.length;
        this.totalExits += good.length;
        break;
      }
      case STATS_EVENT:
        if (typeof body !== 'object' || body === null || !Array.isArray((body as StatsEventBody).reasons)) return false;
        this.stats = body as StatsEventBody;
        break;
      case STATE_EVENT:
        if (typeof body !== 'object' || body === null || typeof (body as StateEventBody).cpl !== 'number') return false;
        this.state = body as StateEventBody;
        this.exitsSinceState = 0;
        if (typeof this.state.technique === 'string' && this.state.technique !== 'vtx') this.technique = this.state.technique;
        break;
      case TRAP_EVENT: {
        const b = body as Partial<TrapBatchEventBody> | null;
        if (typeof b !== 'object' || b === null || typeof b.technique !== 'string') return false;
        const traps = Array.isArray(b.traps) ? b.traps.filter(isTrap) : [];
        const holes = Array.isArray(b.holes) ? b.holes.filter(isHole) : [];
        if (traps.length === 0 && holes.length === 0) return false;
        this.technique = b.technique;
        keepRecent(this.traps, traps, (t) => t.seq);
        keepRecent(this.holes, holes, (h) => h.sequence);
        this.totalTraps += traps.length;
        this.totalHoles += holes.length;
        break;
      }
      case SOFT_STATS_EVENT:
        if (!isSoftStats(body)) return false;
        this.softStats = body;
        this.technique = body.technique;
        break;
      default:
        return false;
    }
    this.changed();
    return true;
  }

  clear(): void {
    this.exits = [];
    this.stats = undefined;
    this.state = undefined;
    this.exitsSinceState = 0;
    this.totalExits = 0;
    this.technique = undefined;
    this.traps = [];
    this.holes = [];
    this.totalTraps = 0;
    this.totalHoles = 0;
    this.softStats = undefined;
    this.changed();
  }

  get hasStats(): boolean {
    return this.stats !== undefined || this.softStats !== undefined;
  }

  /** Recent traps into the software VMM, oldest first. */
  get recentTraps(): readonly TrapEventBody[] {
    return this.traps;
  }

  /** Recent virtualization holes, oldest first. */
  get recentHoles(): readonly HoleEventBody[] {
    return this.holes;
  }

  /** Whether the view has anything to show (exits, traps, holes or statistics). */
  get hasContent(): boolean {
    return this.exits.length > 0 || this.traps.length > 0 || this.holes.length > 0 || this.hasStats;
  }

  /**
   * The software technique the view shows ("trap-and-emulate", …), or
   * undefined when it shows VT-x (or nothing yet).
   */
  get softTechniqueName(): string | undefined {
    return this.technique;
  }

  /** The view's description beside its title: which technique it shows, once anything is known. */
  viewDescription(): string | undefined {
    if (this.technique !== undefined) return `${this.technique} · traps into the VMM`;
    if (this.exits.length > 0 || this.stats !== undefined || this.state !== undefined) return 'VT-x · VM exits';
    return undefined;
  }

  get recent(): readonly ExitEventBody[] {
    return this.exits;
  }

  /** Exits so far: the latest state's count plus those reported after it. */
  get exitCount(): number {
    if (this.state) return this.state.exitCount + this.exitsSinceState;
    return this.stats ? Math.max(this.stats.total, this.totalExits) : this.totalExits;
  }

  /** The status bar's text, or undefined before anything is known. */
  statusText(): string | undefined {
    if (!this.state && this.totalExits === 0 && !this.stats && this.technique === undefined) return undefined;
    const parts: string[] = [];
    if (this.state) {
      parts.push(`vCPU ${this.state.vcpu} ${this.state.mode}`, `CPL ${this.state.cpl}`);
    }
    const soft = this.softTechnique();
    if (soft !== undefined) {
      // A software technique has no VM exits: its traps into the VMM take their place.
      parts.push(soft.technique, `${soft.traps} trap${soft.traps === 1 ? '' : 's'}`);
      return `$(chip) ${parts.join(' · ')}`;
    }
    const n = this.exitCount;
    parts.push(`${n} exit${n === 1 ? '' : 's'}`);
    return `$(chip) ${parts.join(' · ')}`;
  }

  statusTooltip(): string {
    const s = this.state;
    const lines = ['Hyperstep guest'];
    const soft = this.softTechnique();
    if (s) {
      lines.push(`vCPU ${s.vcpu}: ${s.mode} mode, CPL ${s.cpl}, ${soft !== undefined ? `${soft.technique} (no VMX; the CPL the guest believes in)` : s.nonRoot ? 'VMX non-root' : 'VMX root'}`);
      if (s.rip !== undefined) lines.push(`RIP ${hex(s.rip, 8)}`);
      if (s.instructions !== undefined) lines.push(`${s.instructions} instructions`);
    }
    lines.push(soft !== undefined ? `${soft.traps} traps into the VMM` : `${this.exitCount} VM exits`);
    return lines.join('\n');
  }

  /** The software technique the latest state names (trap-and-emulate, …), with its trap count. */
  private softTechnique(): { technique: string; traps: number } | undefined {
    const s = this.state;
    if (s === undefined || typeof s.technique !== 'string' || s.technique === 'vtx') return undefined;
    return { technique: s.technique, traps: typeof s.traps === 'number' ? s.traps : 0 };
  }

  /** The view's tree: recent exits (newest first) and the statistics; under a software technique its traps, holes and statistics. */
  rows(): TreeRow[] {
    if (this.technique !== undefined) return this.softRows(this.technique);
    const exits: TreeRow = {
      id: 'exits',
      label: 'VM exits',
      description: this.exits.length < this.totalExits ? `last ${this.exits.length} of ${this.totalExits}` : `${this.exits.length}`,
      icon: 'debug-stackframe',
      children: [...this.exits].reverse().map((e) => exitRow(e)),
    };
    const stats: TreeRow = { id: 'stats', label: 'Exit statistics', icon: 'graph', children: this.stats ? statsRows(this.stats) : [] };
    if (this.stats) stats.description = `${this.stats.total} exits, ${this.stats.totalCycles} cycles`;
    else stats.description = 'at the next stop';
    return [exits, stats];
  }

  private softRows(technique: string): TreeRow[] {
    const count = (shown: number, total: number): string => (shown < total ? `last ${shown} of ${total}` : `${shown}`);
    const traps: TreeRow = {
      id: 'traps',
      label: 'Traps into the VMM',
      description: count(this.traps.length, Math.max(this.totalTraps, this.traps.length)),
      tooltip: `${technique}: the guest's privileged instructions, faults, interrupts and hypercalls that entered the VMM (there are no VM exits)`,
      icon: 'debug-stackframe',
      children: [...this.traps].reverse().map((t) => trapRow(t)),
    };
    const holes: TreeRow = {
      id: 'holes',
      label: 'Virtualization holes',
      description: technique === 'paravirt' && this.holes.length === 0 ? 'none under paravirt' : count(this.holes.length, Math.max(this.totalHoles, this.holes.length)),
      tooltip: 'Sensitive instructions that did not trap: what the guest saw against what it expected',
      icon: 'warning',
      children: [...this.holes].reverse().map((h) => holeRow(h)),
    };
    const s = this.softStats;
    const stats: TreeRow = { id: 'stats', label: 'VMM statistics', icon: 'graph', children: s ? softStatsRows(s) : [] };
    stats.description = s ? `${s.traps} traps, ${s.trapCycles} cycles` : 'at the next stop';
    return [traps, holes, stats];
  }
}

/** One trap: "#7 #GP: cli", "RIP 0x0000100B · 1100 cycles"; details as children. */
export function trapRow(t: TrapEventBody): TreeRow {
  const details: TreeRow[] = [];
  const detail = (key: string, label: string, description: string): void => {
    details.push({ id: `trap-${t.seq}-${key}`, label, description });
  };
  const colon = t.key.indexOf(': ');
  detail('kind', 'kind', colon < 0 ? t.key : t.key.slice(0, colon));
  if (colon >= 0) detail('detail', 'detail', t.key.slice(colon + 2));
  if (typeof t.cycles === 'number') detail('cycles', 'modelled cycles', `${t.cycles}`);
  if (t.source) detail('source', 'source', `${t.source.path}:${t.source.line}`);
  const place = `vCPU ${t.vcpu} · RIP ${hex(t.rip, 8)}`;
  return {
    id: `trap-${t.seq}`,
    label: `#${t.seq} ${t.key}`,
    description: typeof t.cycles === 'number' ? `${place} · ${t.cycles} cycles` : place,
    tooltip: `Trap into the VMM: ${t.key} on vCPU ${t.vcpu} at ${hex(t.rip, 8)}${typeof t.cycles === 'number' ? `, ${t.cycles} modelled cycles` : ''}`,
    icon: 'debug-breakpoint-function',
    children: details,
    exit: t,
  };
}

/** One hole: "#1 popf", "RIP 0x0001010A · saw …"; what the guest saw, expected and why as children. */
export function holeRow(h: HoleEventBody): TreeRow {
  const details: TreeRow[] = [];
  const detail = (key: string, label: string, description: string): void => {
    details.push({ id: `hole-${h.sequence}-${key}`, label, description, tooltip: description });
  };
  if (typeof h.saw === 'string') detail('saw', 'the guest saw', h.saw);
  if (typeof h.expected === 'string') detail('expected', 'it expected', h.expected);
  if (typeof h.why === 'string' && h.why !== '') detail('why', 'why', h.why);
  if (h.length) detail('length', 'instruction length', `${h.length}`);
  if (h.source) detail('source', 'source', `${h.source.path}:${h.source.line}`);
  return {
    id: `hole-${h.sequence}`,
    label: `#${h.sequence} ${h.instruction}`,
    description: `vCPU ${h.vcpu} · RIP ${hex(h.rip, 8)}${typeof h.saw === 'string' ? ` · saw ${h.saw}` : ''}`,
    tooltip: [`Virtualization hole: ${h.instruction} at ${hex(h.rip, 8)} did not trap`, h.saw && `The guest saw: ${h.saw}`, h.expected && `It expected: ${h.expected}`, h.why].filter(Boolean).join('\n'),
    icon: 'warning',
    children: details,
    exit: h,
  };
}

const CALLOUT = 'callout: ';

function softStatsRows(s: SoftStatsEventBody): TreeRow[] {
  const share = (part: number, whole: number): string => percent(whole === 0 ? 0 : part / whole);
  const kindRow = (id: string, k: SoftStatsEventBody['byKind'][number], count: number, cycles: number, label = k.key): TreeRow => ({
    id,
    label,
    description: `${k.count} (${share(k.count, count)}) · time ${share(k.cycles, cycles)} · avg ${Math.round(k.cycles / Math.max(1, k.count))} cycles`,
    tooltip: `${k.key}: ${k.count} samples, ${k.cycles} modelled cycles`,
  });
  const rows: TreeRow[] = s.byKind.filter((k) => !k.key.startsWith(CALLOUT)).map((k) => kindRow(`softstats-trap-${k.key}`, k, s.traps, s.trapCycles));
  rows.push({ id: 'softstats-holes', label: 'Virtualization holes', description: `${s.holes}` });
  const t = s.translation;
  if (t.blocks > 0 || t.callouts > 0) {
    const callouts = s.byKind.filter((k) => k.key.startsWith(CALLOUT));
    const calloutCycles = callouts.reduce((sum, k) => sum + k.cycles, 0);
    rows.push({
      id: 'softstats-translation',
      label: 'Binary translation',
      description: `${t.blocks} blocks, ${t.callouts} callouts, ${t.cycles} cycles`,
      children: [
        { id: 'softstats-translation-blocks', label: 'translated blocks', description: `${t.blocks} (${t.instructions} instructions)` },
        { id: 'softstats-translation-chained', label: 'chained transitions', description: `${t.chained}` },
        { id: 'softstats-translation-lookups', label: 'cache lookups', description: `${t.lookups}` },
        { id: 'softstats-translation-invalidations', label: 'invalidations', description: `${t.invalidations}` },
        {
          id: 'softstats-translation-callouts',
          label: 'callouts',
          description: `${t.callouts}`,
          children: callouts.map((k) => kindRow(`softstats-callout-${k.key}`, k, t.callouts, calloutCycles, k.key.slice(CALLOUT.length))),
        },
      ],
    });
  }
  if (s.hypercalls.length > 0) {
    const count = s.hypercalls.reduce((sum, h) => sum + h.count, 0);
    const cycles = s.hypercalls.reduce((sum, h) => sum + h.cycles, 0);
    rows.push({
      id: 'softstats-hypercalls',
      label: 'Hypercalls',
      description: `${count} calls, ${cycles} cycles`,
      children: s.hypercalls.map((h) => kindRow(`softstats-hypercall-${h.key}`, h, count, cycles)),
    });
  }
  if (s.rootSwitches.count > 0) rows.push({ id: 'softstats-roots', label: 'Shadow root switches', description: `${s.rootSwitches.count}, ${s.rootSwitches.cycles} cycles` });
  rows.push({ id: 'softstats-vmm', label: 'VMM modelled time', description: `${s.vmmCycles} cycles (${s.model})` });
  return rows;
}

/** One exit: "#12 IO_INSTRUCTION", "vCPU 0 · RIP 0x00007C05 · OUT 0x3F8, 1 byte"; details as children. */
export function exitRow(e: ExitEventBody): TreeRow {
  const details: TreeRow[] = [];
  const detail = (key: string, label: string, description: string): void => {
    details.push({ id: `exit-${e.sequence}-${key}`, label, description });
  };
  detail('reason', 'reason', `${e.reason} ${e.name}`);
  // Fields beyond reason, sequence and rip may be missing from a session's event: show what is there.
  if (typeof e.qualification === 'number') detail('qualification', 'qualification', e.summary ? `${hex(e.qualification)} — ${e.summary}` : hex(e.qualification));
  if (typeof e.why === 'string' && e.why !== '') detail('why', 'why', e.why);
  if (e.instructionLength) detail('length', 'instruction length', `${e.instructionLength}`);
  if (e.guestLinearAddress !== undefined) detail('gla', 'guest-linear address', hex(e.guestLinearAddress, 8));
  if (e.guestPhysicalAddress !== undefined) detail('gpa', 'guest-physical address', hex(e.guestPhysicalAddress, 8));
  if (e.interruptionInfo & 0x80000000) detail('interruption', 'interruption info', hex(e.interruptionInfo, 8));
  if (e.idtVectoringInfo & 0x80000000) detail('idt', 'IDT-vectoring info', hex(e.idtVectoringInfo, 8));
  if (e.source) detail('source', 'source', `${e.source.path}:${e.source.line}`);
  const place = `vCPU ${e.vcpu} · RIP ${hex(e.rip, 8)}`;
  return {
    id: `exit-${e.sequence}`,
    label: `#${e.sequence} ${e.name}`,
    description: e.summary ? `${place} · ${e.summary}` : place,
    tooltip: [`VM exit ${e.reason} ${e.name} on vCPU ${e.vcpu} at RIP ${hex(e.rip, 8)}`, e.summary, e.why].filter(Boolean).join('\n'),
    icon: 'debug-breakpoint-function',
    children: details,
    exit: e,
  };
}

function statsRows(s: StatsEventBody): TreeRow[] {
  const rows: TreeRow[] = s.reasons.map((r) => ({
    id: `stats-reason-${r.reason}`,
    label: r.name,
    description: `${r.count} (${percent(r.share)}) · time ${percent(r.timeShare)} · avg ${Math.round(r.avgCycles)} cycles`,
    tooltip: `exit ${r.reason} ${r.name}: ${r.count} samples, ${r.cycles} cycles (min ${r.minCycles}, max ${r.maxCycles})`,
  }));
  const drill = (id: string, label: string, keys: StatsEventBody['ioPorts']): void => {
    if (keys.length === 0) return;
    rows.push({
      id: `stats-${id}`,
      label,
      children: keys.map((k) => ({ id: `stats-${id}-${k.key}`, label: k.key, description: `${k.count} (${percent(k.share)}) · avg ${Math.round(k.avgCycles)} cycles` })),
    });
  };
  drill('io', 'I/O ports', s.ioPorts);
  drill('msr', 'MSRs', s.msrs);
  drill('cpuid', 'CPUID leaves', s.cpuidLeaves);
  drill('exceptions', 'Exceptions', s.exceptions);
  return rows;
}
