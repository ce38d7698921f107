// The breakpoints the client asked for, kept by group (a source file, the
// function breakpoints, the instruction breakpoints) and resolved to guest
// addresses whenever there is a runtime: at the request, and again after a
// launch or restart. Ids stay the same across resolutions so the client can
// match the `breakpoint` events.

import type { DebugProtocol } from '@vscode/debugprotocol';
import type { SourceMap } from '../x86/asm/index';
import { compileCondition, isValidHitCondition, type BreakpointSpec, type Runtime } from './runtime';
import { parseAddress } from './launchConfig';

/** How far a breakpoint on a line without code moves down to the next line with code. */
const MAX_LINE_MOVE = 10;

interface Requested {
  id: number;
  line?: number;
  name?: string;
  reference?: string;
  offset?: number;
  condition?: string;
  hitCondition?: string;
  logMessage?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export class BreakpointBook {
  private runtime: Runtime | undefined;
  private readonly groups = new Map<string, { kind: BreakpointSpec['kind']; path?: string; requested: Requested[] }>();
  private readonly results = new Map<string, DebugProtocol.Breakpoint[]>();
  private nextId = 1;

  attach(runtime: Runtime): void {
    this.runtime = runtime;
    for (const group of this.groups.keys()) this.resolve(group);
  }

  all(): DebugProtocol.Breakpoint[] {
    return [...this.results.values()].flat();
  }

  setSource(path: string, requested: readonly DebugProtocol.SourceBreakpoint[]): DebugProtocol.Breakpoint[] {
    const list = requested
      .filter((b) => typeof b?.line === 'number')
      .map((b) => ({ id: this.nextId++, line: b.line, condition: str(b.condition), hitCondition: str(b.hitCondition), logMessage: str(b.logMessage) }));
    return this.store(`source:${path}`, 'source', list, path);
  }

  setFunctions(requested: readonly unknown[]): DebugProtocol.Breakpoint[] {
    const list = requested.map((b) => {
      const o = (typeof b === 'object' && b !== null ? b : {}) as Record<string, unknown>;
      return { id: this.nextId++, name: str(o['name']) ?? '', condition: str(o['condition']), hitCondition: str(o['hitCondition']) };
    });
    return this.store('function', 'function', list);
  }

  setInstructions(requested: readonly unknown[]): DebugProtocol.Breakpoint[] {
    const list = requested.map((b) => {
      const o = (typeof b === 'object' && b !== null ? b : {}) as Record<string, unknown>;
      return { id: this.nextId++, reference: str(o['instructionReference']) ?? '', offset: typeof o['offset'] === 'number' ? o['offset'] : 0, condition: str(o['condition']), hitCondition: str(o['hitCondition']) };
    });
    return this.store('instruction', 'instruction', list);
  }

  private store(group: string, kind: BreakpointSpec['kind'], requested: Requested[], path?: string): DebugProtocol.Breakpoint[] {
    this.groups.set(group, { kind, requested, ...(path !== undefined ? { path } : {}) });
    return this.resolve(group);
  }

  private resolve(group: string): DebugProtocol.Breakpoint[] {
    const g = this.groups.get(group);
    if (g === undefined) return [];
    const rt = this.runtime;
    const specs: BreakpointSpec[] = [];
    const out = g.requested.map((r): DebugProtocol.Breakpoint => {
      const base: DebugProtocol.Breakpoint = { id: r.id, verified: false, ...(r.line !== undefined ? { line: r.line } : {}), ...(g.path !== undefined ? { source: { path: g.path } } : {}) };
      if (rt === undefined) return { ...base, message: 'The guest has not been launched yet.', reason: 'pending' };
      const cond = compileCondition(r.condition);
      if (cond.error !== undefined) return { ...base, message: `Condition: ${cond.error}` };
      if (r.hitCondition !== undefined && r.hitCondition.trim() !== '' && !isValidHitCondition(r.hitCondition)) {
        return { ...base, message: `Hit count '${r.hitCondition}' is not a number, nor one of '>= N', '> N', '== N', '< N', '<= N', '% N'.` };
      }
      const where = this.locate(rt, g.kind, g.path, r);
      if ('message' in where) return { ...base, message: where.message };
      specs.push({
        id: r.id,
        kind: g.kind,
        address: where.address,
        hits: 0,
        ...(cond.expr ? { condition: cond.expr } : {}),
        ...(r.hitCondition !== undefined && r.hitCondition.trim() !== '' ? { hitCondition: r.hitCondition } : {}),
        ...(r.logMessage !== undefined && r.logMessage !== '' ? { logMessage: r.logMessage } : {}),
      });
      const hexAddress = `0x${where.address.toString(16).toUpperCase()}`;
      return { ...base, verified: true, ...(where.line !== undefined ? { line: where.line } : {}), instructionReference: hexAddress, ...(where.note ? { message: where.note } : {}) };
    });
    rt?.setBreakpoints(group, specs);
    this.results.set(group, out);
    return out;
  }

  private locate(rt: Runtime, kind: BreakpointSpec['kind'], path: string | undefined, r: Requested): { address: number; line?: number; note?: string } | { message: string } {
    if (kind === 'instruction') {
      const a = parseAddress(r.reference ?? '');
      if (a === undefined) return { message: `'${r.reference ?? ''}' is not an instruction address.` };
      return { address: (a + (r.offset ?? 0)) >>> 0 };
    }
    if (kind === 'function') {
      const name = r.name ?? '';
      const symbols = rt.image.symbols;
      const a = symbols?.get(name) ?? symbols?.get(name.replace(/^_/, '')) ?? parseAddress(name);
      if (a === undefined) return { message: symbols === undefined ? `No labels: '${rt.image.path}' is a raw image; use an address such as 0x7C00.` : `No label '${name}' in the program.` };
      return { address: a >>> 0 };
    }
    const map = rt.image.sourceMap;
    if (map === undefined || path === undefined) return { message: `${rt.image.path} is a raw image: there is no source to set breakpoints in; use the Disassembly view.` };
    const file = sourceFileOf(map, path);
    if (file === undefined) return { message: `${path} is not part of the program ${rt.image.path}.` };
    const line = r.line ?? 0;
    for (let l = line; l <= line + MAX_LINE_MOVE; l++) {
      const addresses = map.addressesFor(file, l);
      if (addresses.length > 0) {
        const address = Math.min(...addresses);
        return l === line ? { address, line } : { address, line: l, note: `No code on line ${line}: moved to line ${l}.` };
      }
    }
    return { message: `No code on line ${line} or the ${MAX_LINE_MOVE} lines after it.` };
  }
}

/** The source map's name for a client path: the same path, or the only file with that ending. */
export function sourceFileOf(map: SourceMap, path: string): string | undefined {
  const files = new Set(map.entries.map((e) => e.file));
  if (files.has(path)) return path;
  const norm = (p: string): string => p.replace(/\\/g, '/').toLowerCase();
  const exact = [...files].filter((f) => norm(f) === norm(path));
  if (exact.length === 1) return exact[0];
  const base = norm(path).split('/').pop() ?? '';
  const same = [...files].filter((f) => norm(f).endsWith('/' + base) || norm(f) === base || norm(path).endsWith('/' + norm(f)));
  return same.length === 1 ? same[0] : undefined;
}
