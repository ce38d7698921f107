// The driver: parses once, then runs passes over the statements until every label stops moving
// (jumps and displacements start short and only grow), and finally emits bytes, listing and map.

import { ByteBuffer } from './bytebuf';
import { AsmDiagnostic, AsmError } from './diagnostics';
import { EncodeEnv, encodeInstruction } from './encoder';
import { EvalContext, Expr, Value, evaluate, relocOf } from './expr';
import { ListingLine, Part, Reloc, formatListing } from './listing';
import { preprocess } from './preprocess';
import { SourceMap, SourceMapEntry, buildSourceMap } from './sourcemap';
import { Line, StatementParser, Stmt } from './statements';

export interface AssembleOptions {
  fileName: string;
  readFile?: (path: string) => string | undefined;
  bits?: 16 | 32;
  org?: number;
}

export interface AssembleResult {
  ok: boolean;
  bytes: Uint8Array;
  origin: number;
  diagnostics: AsmDiagnostic[];
  symbols: Map<string, number>;
  sourceMap: SourceMap;
  listing: string;
}

const MAX_PASSES = 1000;
/** Statement visits allowed over all passes (lines × passes). */
const MAX_WORK = 5_000_000;
/** Upper bound on the image size; larger `times`/`resb` requests are errors, not out-of-memory. */
const MAX_OUTPUT = 64 * 1024 * 1024;

interface SectionDef {
  name: string;
  nobits: boolean;
  /** From `align=`; undefined until set (then nasm's default applies: 1 for .text, 4 otherwise). */
  align?: number;
  index: number;
}


interface Emission {
  size: number;
  parts: Part[];
}

interface ParsedLine extends Line {
  depth: number;
  directive: boolean;
  /** Assembled but left out of the listing (a label split off a macro invocation). */
  hidden?: boolean;
}

type SymVal = { n: bigint; rel: string | null };

class Pass {
  labels = new Map<string, { sec: string; off: bigint }>();
  equs = new Map<string, SymVal>();
  sizes = new Map<string, bigint>();
  raisedAlign = new Map<string, number>();
  origin = 0n;
}

export function assemble(source: string, options: AssembleOptions): AssembleResult {
  try {
    return new Assembler(source, options).run();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    return {
      ok: false,
      bytes: new Uint8Array(0),
      origin: options.org ?? 0,
      diagnostics: [{ file: options.fileName, line: 1, column: 1, severity: 'error', message: `internal assembler error: ${message}` }],
      symbols: new Map(),
      sourceMap: buildSourceMap([]),
      listing: '',
    };
  }
}

class Assembler {
  private diags: AsmDiagnostic[] = [];
  private lines: ParsedLine[] = [];
  private sections = new Map<string, SectionDef>();
  private prev = new Pass();
  private cur = new Pass();
  private starts = new Map<string, bigint>();
  private final = false;
  private bits: 16 | 32 = 16;
  private sec = '.text';
  private offsets = new Map<string, bigint>();
  private lineDiag: AsmDiagnostic[] = [];

  constructor(private readonly source: string, private readonly options: AssembleOptions) {}

  run(): AssembleResult {
    this.parse();
    let converged = false;
    // Like nasm, keep going while labels move (some programs need dozens of passes), but bound the
    // total work so a pathological input ends with an error instead of running for minutes.
    const maxPasses = Math.max(2, Math.min(MAX_PASSES, Math.floor(MAX_WORK / Math.max(1, this.lines.length))));
    let passes = 0;
    for (let pass = 1; pass <= maxPasses; pass++) {
      passes = pass;
      this.runPass();
      const changed = !this.samePass(this.prev, this.cur);
      this.adopt();
      if (!changed && pass >= 2) {
        converged = true;
        break;
      }
    }
    if (!converged) this.error(this.options.fileName, 1, 1, `unable to find valid values for all labels after ${passes} passes`);
    this.final = true;
    const out = this.runPass();
    return this.finish(out);
  }

  private error(file: string, line: number, column: number, message: string): void {
    this.diags.push({ file, line, column, severity: 'error', message });
  }

  private parse(): void {
    const pp = preprocess(this.source, this.options.fileName, this.options.readFile);
    this.diags.push(...pp.diagnostics);
    if (pp.fatal) return;
    const parser = new StatementParser();
    const seen = new Set<string>();
    this.sections.set('.text', { name: '.text', nobits: false, index: 0 });
    for (const sl of pp.lines) {
      const base: ParsedLine = { file: sl.file, line: sl.line, text: sl.text, stmt: { k: 'none' }, depth: sl.depth, directive: !!sl.directive, hidden: sl.hidden };
      if (sl.directive || sl.tokens.length === 0) {
        this.lines.push(base);
        continue;
      }
      try {
        const l = parser.parseLine(sl.tokens, sl.file, sl.line, sl.text);
        base.stmt = l.stmt;
        base.warnings = l.warnings;
        if (l.error) this.error(sl.file, sl.line, l.error.column ?? sl.tokens[0]?.col ?? 1, l.error.message);
        if (l.label) {
          if (seen.has(l.label.name)) this.error(sl.file, sl.line, l.label.col, `label \`${l.label.name}' inconsistently redefined`);
          else {
            seen.add(l.label.name);
            base.label = l.label;
          }
        }
        if (l.stmt.k === 'section' && !this.sections.has(l.stmt.name)) {
          const nobits = l.stmt.nobits ?? /^\.bss$/i.test(l.stmt.name);
          this.sections.set(l.stmt.name, { name: l.stmt.name, nobits, align: l.stmt.align, index: this.sections.size });
        } else if (l.stmt.k === 'section' && l.stmt.align !== undefined) {
          const s = this.sections.get(l.stmt.name);
          if (s) s.align = Math.max(s.align ?? 1, l.stmt.align);
        }
      } catch (e) {
        if (!(e instanceof AsmError)) throw e;
        this.error(sl.file, sl.line, e.column ?? sl.tokens[0]?.col ?? 1, e.message);
      }
      this.lines.push(base);
    }
  }

  private samePass(a: Pass, b: Pass): boolean {
    if (a.labels.size !== b.labels.size || a.equs.size !== b.equs.size) return false;
    for (const [k, v] of b.labels) {
      const o = a.labels.get(k);
      if (!o || o.off !== v.off || o.sec !== v.sec) return false;
    }
    for (const [k, v] of b.equs) {
      const o = a.equs.get(k);
      if (!o || o.n !== v.n || o.rel !== v.rel) return false;
    }
    const sa = this.layout(a);
    const sb = this.layout(b);
    for (const [k, v] of sb) if (sa.get(k) !== v) return false;
    return true;
  }

  /** Section start addresses for the sizes recorded in a pass: nasm bin order, progbits then nobits. */
  private layout(p: Pass): Map<string, bigint> {
    const starts = new Map<string, bigint>();
    const order = [...this.sections.values()].sort((x, y) => (x.index === 0 ? -1 : y.index === 0 ? 1 : Number(x.nobits) - Number(y.nobits) || x.index - y.index));
    let at = p.origin;
    for (const s of order) {
      // `align N` inside a section defines its alignment (even below the default of 4), as nasm's
      // sectalign does; .text is aligned too, so `align 16` in it can move its start past org.
      const raised = p.raisedAlign.get(s.name);
      const defined = s.align === undefined && raised === undefined ? undefined : Math.max(s.align ?? 1, raised ?? 1);
      const align = BigInt(defined ?? (s.index === 0 ? 1 : 4));
      at = ((at + align - 1n) / align) * align;
      starts.set(s.name, at);
      at += p.sizes.get(s.name) ?? 0n;
    }
    return starts;
  }

  private adopt(): void {
    this.prev = this.cur;
    this.starts = this.layout(this.prev);
  }

  private ctx(): EvalContext {
    return {
      symbol: (name) => this.lookup(name),
      // `$` is the start of the source line, even for later repetitions of a `times` line.
      here: () => ({ n: this.lineAddr, rel: this.sec }),
      base: () => ({ n: this.starts.get(this.sec) ?? 0n, rel: this.sec }),
      strict: this.final,
    };
  }

  private lookup(name: string): SymVal | undefined {
    const l = this.cur.labels.get(name) ?? this.prev.labels.get(name);
    if (l) return { n: (this.starts.get(l.sec) ?? 0n) + l.off, rel: l.sec };
    return this.cur.equs.get(name) ?? this.prev.equs.get(name);
  }

  private eval(e: Expr, _address: bigint): Value {
    const v = evaluate(e, this.ctx());
    // A flat binary can only hold a label once (or negated); nasm's results for `lbl + lbl` are not
    // meaningful, so refuse them.
    for (const c of v.terms?.values() ?? []) {
      if (c !== 1n && c !== -1n) throw new AsmError('expression is not simple or relocatable', e.col);
    }
    return v;
  }

  private lineAddr = 0n;
  private forwardCritical = new Set<ParsedLine | undefined>();

  /** A value that must be a plain number known now (times counts, reservations, alignment). */
  private critical(e: Expr, address: bigint, col: number): bigint {
    const v = this.eval(e, address);
    if (v.regs.size > 0) throw new AsmError('register used in a constant expression', col);
    // Like nasm, counts and alignments must be known when first seen (no forward references).
    if (v.unknown || this.forwardCritical.has(this._line)) {
      if (!this.final) this.forwardCritical.add(this._line);
      if (this.final) throw new AsmError('non-constant argument in a critical expression (forward reference?)', col);
      return 0n;
    }
    return v.n;
  }

  private runPass(): { buffers: Map<string, ByteBuffer>; listing: ListingLine[]; map: SourceMapEntry[] } {
    this.cur = new Pass();
    this.cur.origin = this.options.org !== undefined ? BigInt(this.options.org) : 0n;
    this.bits = this.options.bits ?? 16;
    this.sec = '.text';
    this.offsets = new Map();
    for (const s of this.sections.keys()) this.offsets.set(s, 0n);
    const buffers = new Map<string, ByteBuffer>();
    const listing: ListingLine[] = [];
    const map: SourceMapEntry[] = [];
    let total = 0n;
    for (const line of this.lines) {
      const off = this.offsets.get(this.sec) ?? 0n;
      const address = (this.starts.get(this.sec) ?? 0n) + off;
      if (line.label && line.stmt.k !== 'equ') this.cur.labels.set(line.label.name, { sec: this.sec, off });
      let em: Emission = { size: 0, parts: [] };
      this.lineDiag = [];
      this._line = line;
      this.lineAddr = address;
      if (this.final) for (const w of line.warnings ?? []) this.warn(w.message, w.col);
      const bitsAtLine = this.bits;
      try {
        em = this.statement(line, line.stmt, address, off);
      } catch (e) {
        if (!(e instanceof AsmError)) throw e;
        if (this.final) this.lineDiag.push({ file: line.file, line: line.line, column: e.column ?? stmtCol(line.stmt), severity: 'error', message: e.message });
        em = { size: 0, parts: [] };
      }
      // Only bytes that reach the file count against the size limit; .bss may be large.
      if (!this.sections.get(this.sec)?.nobits) total += BigInt(em.size);
      if (total > BigInt(MAX_OUTPUT)) {
        if (this.final) this.lineDiag.push({ file: line.file, line: line.line, column: stmtCol(line.stmt), severity: 'error', message: 'output too large' });
        em = { size: 0, parts: [] };
      }
      const secOff = this.offsets.get(this.sec) ?? 0n;
      if (this.final) {
        this.diags.push(...this.lineDiag);
        const secDef = this.sections.get(this.sec);
        let buf = buffers.get(this.sec);
        if (!buf) {
          buf = new ByteBuffer();
          buffers.set(this.sec, buf);
        }
        if (!secDef?.nobits) {
          for (const p of em.parts) {
            if ('reserve' in p) buf.fill(0, p.reserve);
            else if (p.bytes.length === 1) buf.fill(p.bytes[0], p.repeat);
            else for (let r = 0; r < p.repeat; r++) buf.push(p.bytes);
          }
        }
        const lineAddr = (this.starts.get(this.sec) ?? 0n) + secOff;
        if (em.size > 0 && !secDef?.nobits && em.parts.some((p) => !('reserve' in p) || p.zero)) {
          map.push({ address: Number(lineAddr), length: em.size, file: line.file, line: line.line, column: stmtCol(line.stmt), bits: bitsAtLine });
        }
        if (!line.hidden) listing.push({ line: line.line, depth: line.depth, text: line.text, offset: secOff, parts: em.parts, nobits: !!secDef?.nobits, diags: this.lineDiag });
      }
      this.offsets.set(this.sec, secOff + BigInt(em.size));
    }
    for (const [s, o] of this.offsets) this.cur.sizes.set(s, o);
    return { buffers, listing, map };
  }

  private statement(line: ParsedLine, st: Stmt, address: bigint, off: bigint): Emission {
    switch (st.k) {
      case 'none':
        return { size: 0, parts: [] };
      case 'equ': {
        const v = this.eval(st.value, address);
        if (v.regs.size > 0) throw new AsmError('register in `equ\' expression', st.col);
        if (line.label && !v.unknown) this.cur.equs.set(line.label.name, { n: v.n, rel: v.rel });
        return { size: 0, parts: [] };
      }
      case 'section': {
        this.sec = st.name;
        return { size: 0, parts: [] };
      }
      case 'bits':
        this.bits = st.bits;
        return { size: 0, parts: [] };
      case 'org': {
        const v = this.eval(st.value, address);
        if (v.unknown && this.final) throw new AsmError('non-constant `org\'', st.col);
        if (v.rel !== null) throw new AsmError('`org\' expects a constant', st.col);
        this.cur.origin = v.n;
        return { size: 0, parts: [] };
      }
      default:
        return this.emit(st, address, off);
    }
  }

  private warn(message: string, column: number): void {
    if (!this.final) return;
    const l = this._line;
    if (l) this.lineDiag.push({ file: l.file, line: l.line, column, severity: 'warning', message });
  }

  /** The line being assembled (for warnings raised deep inside the encoder). */
  private _line: ParsedLine | undefined;

  private emit(st: Stmt, address: bigint, off: bigint): Emission {
    const nobits = this.sections.get(this.sec)?.nobits ?? false;
    switch (st.k) {
      case 'insn': {
        const env: EncodeEnv = {
          bits: this.bits,
          address,
          section: this.sec,
          evaluate: (e) => this.eval(e, address),
          final: this.final,
          warn: (m, c) => this.warn(m, c),
          sectionStart: (s) => this.starts.get(s) ?? 0n,
        };
        if (st.mnemonic === '') {
          const b: number[] = [];
          if (st.prefixes.lock) b.push(0xf0);
          if (st.prefixes.rep !== undefined) b.push(st.prefixes.rep);
          return { size: b.length, parts: [{ bytes: b, repeat: 1 }] };
        }
        // Like nasm, every pass decides afresh: short if the target is in rel8 range with the
        // addresses known now, near otherwise (jumps may shrink again in a later pass).
        st.jump.long = false;
        st.jump.grew = false;
        let r = encodeInstruction(st.mnemonic, st.ops, st.prefixes, env, st.jump);
        if (st.jump.grew) r = encodeInstruction(st.mnemonic, st.ops, st.prefixes, env, st.jump);
        if (nobits) this.warn('attempt to initialize memory in a nobits section: ignored', st.col);
        return { size: r.bytes.length, parts: [{ bytes: r.bytes, repeat: 1, relocs: r.relocs }] };
      }
      case 'data': {
        const out: number[] = [];
        const relocs: Reloc[] = [];
        for (const item of st.items) {
          if (item.k === 'bytes') {
            out.push(...item.bytes);
            const pad = (st.unit - (item.bytes.length % st.unit)) % st.unit;
            for (let i = 0; i < pad; i++) out.push(0);
            continue;
          }
          if (st.unit > 8) throw new AsmError(`integer supplied as ${st.unit * 8}-bit data`, item.col);
          const v = this.eval(item.expr, address);
          if (v.regs.size > 0) throw new AsmError('invalid use of a register in data', item.col);
          if (this.final && !v.unknown && v.rel === null && st.unit <= 4) {
            const bits = BigInt(st.unit * 8);
            if (v.n < -(1n << (bits - 1n)) || v.n >= 1n << bits) this.warn(`${['byte', 'word', '', 'dword'][st.unit - 1]} data exceeds bounds`, item.col);
          }
          const r = v.unknown ? undefined : relocOf(v);
          if (r) relocs.push({ at: out.length, size: Math.min(st.unit, 8), shown: v.n - r.coef * (this.starts.get(r.sec) ?? 0n), absolute: r.coef < 0n });
          for (let i = 0; i < st.unit; i++) out.push(i < 8 ? Number((BigInt.asIntN(64, v.n) >> BigInt(8 * i)) & 0xffn) : BigInt.asIntN(64, v.n) < 0n ? 0xff : 0);
        }
        // In a nobits section the bytes are listed but never reach the file.
        if (nobits) this.warn('attempt to initialize memory in a nobits section: ignored', st.col);
        return { size: out.length, parts: [{ bytes: out, repeat: 1, relocs }] };
      }
      case 'res': {
        const n = this.critical(st.count, address, st.col) * BigInt(st.unit);
        if (n < 0n) throw new AsmError('negative reservation size', st.col);
        if (n > (nobits ? 1n << 32n : BigInt(MAX_OUTPUT))) throw new AsmError('reservation too large', st.col);
        if (!nobits && n > 0n) this.warn(`uninitialized space declared in ${this.sec} section: zeroing`, st.col);
        return { size: Number(n), parts: [{ reserve: Number(n), zero: !nobits }] };
      }
      case 'times': {
        const count = this.critical(st.count, address, st.col);
        if (count < 0n) throw new AsmError(`TIMES value ${count} is negative`, st.col);
        if (count > BigInt(MAX_OUTPUT)) throw new AsmError(`TIMES value ${count} is too large`, st.col);
        return this.repeat(st.inner, Number(count), address, off, st.col);
      }
      case 'align': {
        const n = this.critical(st.value, address, st.col);
        if (n <= 0n || (n & (n - 1n)) !== 0n) throw new AsmError('alignment must be a power of two', st.col);
        if (n > 1n << 24n) throw new AsmError('alignment too large', st.col);
        const raised = this.cur.raisedAlign.get(this.sec) ?? 0;
        if (Number(n) > raised) this.cur.raisedAlign.set(this.sec, Number(n));
        const count = Number((n - (off % n)) % n);
        if (st.bss) return { size: count, parts: count ? [{ reserve: count, zero: !nobits }] : [] };
        if (st.fill) return this.repeat(st.fill, count, address, off, st.col);
        return { size: count, parts: count ? [{ bytes: [0x90], repeat: count }] : [] };
      }
      default:
        return { size: 0, parts: [] };
    }
  }

  private repeat(inner: Stmt, count: number, address: bigint, off: bigint, col: number): Emission {
    if (count === 0) return { size: 0, parts: [] };
    // Only relative branches differ between repetitions (`$` stays at the line start).
    const perIteration = inner.k === 'insn' ? inner.relative : inner.k === 'times' || inner.k === 'align';
    if (!perIteration) {
      const one = this.emit(inner, address, off);
      if (one.size * count > MAX_OUTPUT) throw new AsmError(`TIMES value ${count} is too large`, col);
      const parts: Part[] = one.parts.map((p) => ('reserve' in p ? { reserve: p.reserve * count, zero: p.zero } : { bytes: p.bytes, repeat: p.repeat * count, relocs: p.relocs }));
      return { size: one.size * count, parts };
    }
    if (count > 100_000) throw new AsmError(`TIMES value ${count} is too large for a statement that uses \`$'`, col);
    const parts: Part[] = [];
    let size = 0;
    for (let i = 0; i < count; i++) {
      const e = this.emit(inner, address + BigInt(size), off + BigInt(size));
      parts.push(...e.parts);
      size += e.size;
      if (size > MAX_OUTPUT) throw new AsmError('output too large', col);
    }
    return { size, parts };
  }

  private finish(out: { buffers: Map<string, ByteBuffer>; listing: ListingLine[]; map: SourceMapEntry[] }): AssembleResult {
    const origin = this.prev.origin;
    const starts = this.layout(this.cur);
    let length = 0n;
    for (const s of this.sections.values()) {
      const size = this.cur.sizes.get(s.name) ?? 0n;
      if (s.nobits || size === 0n) continue;
      const end = (starts.get(s.name) ?? 0n) - origin + size;
      if (end > length) length = end;
    }
    const bytes = new Uint8Array(Number(length));
    for (const s of this.sections.values()) {
      const buf = out.buffers.get(s.name);
      if (s.nobits || !buf || buf.length === 0) continue;
      bytes.set(buf.bytes(), Number((starts.get(s.name) ?? 0n) - origin));
    }
    const symbols = new Map<string, number>();
    for (const [k, v] of this.cur.labels) symbols.set(k, Number((starts.get(v.sec) ?? 0n) + v.off));
    for (const [k, v] of this.cur.equs) symbols.set(k, Number(BigInt.asIntN(64, v.n)));
    // Report in source order (the order lines were read, includes inline), errors of a line together.
    const order = new Map<string, number>();
    this.lines.forEach((l, i) => {
      const k = `${l.file}\0${l.line}`;
      if (!order.has(k)) order.set(k, i);
    });
    const diagnostics = this.diags
      .map((d, i) => ({ d, i, k: order.get(`${d.file}\0${d.line}`) ?? Number.MAX_SAFE_INTEGER }))
      .sort((a, b) => a.k - b.k || a.i - b.i)
      .map((x) => x.d);
    // The listing text is built only if someone reads it: most callers (the debugger, the VMM runner) never do.
    let listing: string | undefined;
    return {
      ok: !diagnostics.some((d) => d.severity === 'error'),
      bytes,
      origin: Number(origin),
      diagnostics,
      symbols,
      sourceMap: buildSourceMap(out.map),
      get listing(): string {
        listing ??= formatListing(out.listing);
        return listing;
      },
    };
  }
}

function stmtCol(st: Stmt): number {
  return 'col' in st ? st.col : 1;
}
