// What the Hyperstep view and the status bar know about the running guest,
// built from the session's custom events (protocol.ts). Plain data and text,
// no vscode types, so the tree's content is tested directly.

import {
  EXIT_EVENT, STATE_EVENT, STATS_EVENT,
  type ExitBatchEventBody, type ExitEventBody, type StateEventBody, type StatsEventBody,
} from '../debug/protocol';

/** Recent exits kept for the view; older ones drop off (the statistics still count them). */
export const RECENT_EXITS = 200;

export interface TreeRow {
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  /** Icon name (a codicon id). */
  icon?: string;
  children?: TreeRow[];
  /** Set on exit rows: selecting the row reveals this exit. */
  exit?: ExitEventBody;
}

const hex = (n: number, width = 0): string => `0x${(n >>> 0).toString(16).toUpperCase().padStart(width, '0')}`;
const percent = (share: number): string => `${(share * 100).toFixed(1)}%`;

function isBatch(body: unknown): body is ExitBatchEventBody {
  return typeof body === 'object' && body !== null && Array.isArray((body as ExitBatchEventBody).exits);
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
    this.changed();
  }

  get hasStats(): boolean {
    return this.stats !== undefined;
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
    if (!this.state && this.totalExits === 0 && !this.stats) return undefined;
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

  /** The view's tree: recent exits (newest first) and the statistics. */
  rows(): TreeRow[] {
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
