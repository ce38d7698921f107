// Picks the first table form whose operand slots accept the given operands, then emits its bytes.

import { AsmError } from './diagnostics';
import { Expr, Value, relocOf } from './expr';
import { InsnForm, formsFor } from './insns';
import { encodeEa, pushLE } from './modrm';
import { MemOperand, Operand } from './operands';
import { Register } from './registers';

export interface InsnPrefixes {
  rep?: number;
  lock?: boolean;
  seg?: Register;
  osize?: 16 | 32;
  asize?: 16 | 32;
}

export interface EncodeEnv {
  bits: 16 | 32;
  /** Absolute address of the first byte of the instruction. */
  address: bigint;
  section: string;
  evaluate(e: Expr): Value;
  final: boolean;
  warn(message: string, col: number): void;
  /** Start address of a section, to show label-relative fields the way nasm's listing does. */
  sectionStart(name: string): bigint;
}

/** Short/near choice for one encoding of a branch: starts short, set long when the target is out of reach. */
export interface JumpState {
  long: boolean;
  /** Set when the short form did not reach: the caller encodes again with the near form. */
  grew: boolean;
}

const SEG_PREFIX: Record<string, number> = { es: 0x26, cs: 0x2e, ss: 0x36, ds: 0x3e, fs: 0x64, gs: 0x65 };
const FIXED_REGS = new Set(['al', 'ax', 'eax', 'cl', 'dx', 'cx', 'ecx', 'es', 'cs', 'ss', 'ds', 'fs', 'gs']);

interface MatchCtx {
  bits: 16 | 32;
  env: EncodeEnv;
  jump: JumpState;
  values: (Value | undefined)[];
}

function simpleFits(v: Value | undefined, width: number): boolean {
  if (!v) return false;
  // Start short, like nasm: a value not known yet is assumed to fit until a pass shows otherwise.
  if (v.unknown) return true;
  if (v.rel !== null || v.regs.size > 0) return false;
  const s = BigInt.asIntN(width, v.n);
  return s >= -128n && s <= 127n;
}

/** Size hint for an unsized memory operand: taken from the other operands of this form. */
function sizeHint(form: InsnForm, ops: Operand[], skip: number): number | undefined {
  for (let i = 0; i < ops.length; i++) {
    if (i === skip) continue;
    const op = ops[i];
    const slot = form.slots[i];
    if (op.kind === 'reg' && op.reg.cls === 'gp' && !FIXED_REGS.has(slot)) return op.reg.size;
    if (op.kind === 'reg' && op.reg.cls === 'sreg') return 16;
    if (op.kind === 'imm' && op.size !== undefined) return op.size;
  }
  return undefined;
}

function matchSlot(form: InsnForm, i: number, ops: Operand[], c: MatchCtx): boolean {
  const slot = form.slots[i];
  const op = ops[i];
  const size = form.sizes[i];
  if (op.kind === 'reg') {
    const r = op.reg;
    if (FIXED_REGS.has(slot)) return r.name === slot;
    if (slot === 'sreg') return r.cls === 'sreg';
    if (slot === 'creg') return r.cls === 'creg';
    if (slot === 'dreg') return r.cls === 'dreg';
    if (/^(r|rm)(8|16|32)$/.test(slot)) return r.cls === 'gp' && r.size === size;
    return false;
  }
  if (op.kind === 'mem') {
    if (slot.startsWith('mfar')) {
      if (!op.far) return false;
      return (op.size ?? c.bits) === size;
    }
    if (op.far) return false;
    if (slot === 'm') return true;
    if (slot === 'mu') return op.size === undefined;
    if (slot.startsWith('moffs')) {
      const v = c.values[i];
      if (!v || v.regs.size > 0) return false;
      return op.size === undefined || op.size === size;
    }
    if (/^(rm|m)(8|16|32|64)$/.test(slot)) {
      if (op.size !== undefined) return op.size === size;
      const hint = sizeHint(form, ops, i);
      return hint === undefined || hint === size;
    }
    return false;
  }
  if (op.kind === 'farptr') {
    // nasm rejects `jmp far seg:off`: the pointer form is far already.
    if (!slot.startsWith('far') || op.far) return false;
    return (op.size ?? c.bits) === size;
  }
  // immediate
  if (slot.startsWith('rel')) {
    if (op.jump === 'far') return false;
    if (slot === 'rel8') {
      if (op.jump === 'near') return false;
      if (op.jump === 'short') return true;
      // A size keyword on the target (`jmp dword label`) asks for the near form.
      if (op.size !== undefined) return false;
      return !form.hasNear || !c.jump.long;
    }
    if (op.jump === 'short') return false;
    return (op.size ?? c.bits) === size;
  }
  if (op.jump !== undefined) return false;
  if (slot === 'one') {
    const v = c.values[i];
    return op.size === undefined && !!v && !v.unknown && v.rel === null && v.n === 1n;
  }
  if (slot === 'sbx') return op.size === 8;
  if (slot === 'sb16' || slot === 'sb32') {
    const eff = op.size ?? (form.sz ? c.bits : size);
    if (eff !== size || op.strict) return false;
    if (op.size === 8) return true;
    return simpleFits(c.values[i], size ?? 32);
  }
  if (slot.startsWith('imm')) {
    const eff = op.size ?? (form.sz ? c.bits : undefined);
    return eff === undefined || eff === size;
  }
  return false;
}

function formMatches(form: InsnForm, ops: Operand[], c: MatchCtx): boolean {
  if (form.slots.length !== ops.length) return false;
  for (let i = 0; i < ops.length; i++) if (!matchSlot(form, i, ops, c)) return false;
  return true;
}

/** Which size an unsized memory operand takes in this form (undefined: none is unsized). */
function unsizedMemSize(form: InsnForm, ops: Operand[]): number | undefined {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (op.kind === 'mem' && op.size === undefined && /^(rm|m)(8|16|32|64)$/.test(form.slots[i])) {
      if (sizeHint(form, ops, i) === undefined) return form.sizes[i];
    }
  }
  return undefined;
}

function immRange(v: bigint, bytes: number, signedOnly: boolean): boolean {
  const bits = BigInt(bytes * 8);
  const lo = -(1n << (bits - 1n));
  const hi = signedOnly ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  return v >= lo && v <= hi;
}

export interface Encoded {
  bytes: number[];
  /** Fields holding label-relative values (nasm lists them in brackets). */
  relocs: { at: number; size: number; shown: bigint; absolute?: boolean }[];
}

export function encodeInstruction(mnemonic: string, ops: Operand[], prefixes: InsnPrefixes, env: EncodeEnv, jump: JumpState): Encoded {
  const forms = formsFor(mnemonic);
  if (!forms) throw new AsmError(`unknown instruction \`${mnemonic}'`, undefined);
  // nasm takes `lea reg, expr` as `lea reg, [expr]`.
  const src = ops[1];
  if (mnemonic === 'lea' && src && src.kind === 'imm' && src.jump === undefined) {
    ops = [ops[0], { kind: 'mem', expr: src.expr, nosplit: false, far: false, near: false, col: src.col }];
  }
  const values: (Value | undefined)[] = ops.map((op) => {
    if (op.kind === 'imm' || op.kind === 'mem') return op.expr ? env.evaluate(op.expr) : undefined;
    return undefined;
  });
  for (let i = 0; i < ops.length; i++) {
    const v = values[i];
    const op = ops[i];
    if (op.kind === 'imm' && v && v.regs.size > 0) throw new AsmError('invalid operand: register in expression', op.col);
  }
  const c: MatchCtx = { bits: env.bits, env, jump, values };
  const matching = forms.filter((f) => formMatches(f, ops, c));
  if (matching.length === 0) {
    if (!forms.some((f) => f.slots.length === ops.length)) {
      throw new AsmError(`invalid number of operands for \`${mnemonic}'`, undefined);
    }
    // Would some form match if the unsized memory operand had a size? Then say so, as nasm does.
    if (ops.some((o) => o.kind === 'mem' && o.size === undefined)) {
      for (const size of [8, 16, 32, 64] as const) {
        const sized = ops.map((o) => (o.kind === 'mem' && o.size === undefined ? { ...o, size } : o));
        if (forms.some((f) => formMatches(f, sized, c))) throw new AsmError('operation size not specified', undefined);
      }
    }
    throw new AsmError('invalid combination of opcode and operands', undefined);
  }
  const form = matching[0];
  if (env.final && mnemonic === 'pop' && ops[0]?.kind === 'reg' && ops[0].reg.name === 'cs') {
    env.warn('instruction obsolete and removed from the target CPU', ops[0].col);
  }
  const ms = unsizedMemSize(form, ops);
  if (ms !== undefined && matching.some((f) => unsizedMemSize(f, ops) !== ms && unsizedMemSize(f, ops) !== undefined)) {
    throw new AsmError('operation size not specified', undefined);
  }
  return emit(form, ops, values, prefixes, env, jump);
}

function emit(form: InsnForm, ops: Operand[], values: (Value | undefined)[], prefixes: InsnPrefixes, env: EncodeEnv, jump: JumpState): Encoded {
  const role = (ch: string): number => form.roles.indexOf(ch);
  let osize: 16 | 32 | undefined = prefixes.osize;
  let asize: 16 | 32 | undefined = prefixes.asize;
  // An explicit o16/o32/a16/a32 prefix wins over the form's own size (nasm: `o16 movsd` is movsw).
  for (const t of form.code) {
    if (t === 'o16' && prefixes.osize === undefined) osize = 16;
    if (t === 'o32' && prefixes.osize === undefined) osize = 32;
    if (t === 'a16' && prefixes.asize === undefined) asize = 16;
    if (t === 'a32' && prefixes.asize === undefined) asize = 32;
  }
  const body: number[] = [];
  const relocs: { at: number; size: number; shown: bigint; absolute?: boolean }[] = [];
  const noteReloc = (v: Value, size: number): void => {
    const r = v.unknown ? undefined : relocOf(v);
    if (!r) return;
    // nasm lists the section-relative value: [offset] for a label, (rest) for a negated one.
    const shown = v.n - r.coef * env.sectionStart(r.sec);
    relocs.push({ at: body.length - size, size, shown, absolute: r.coef < 0n });
  };
  const fixups: { at: number; size: number; target: Value; col: number }[] = [];
  let seg = prefixes.seg;
  const rIdx = role('r') >= 0 ? role('r') : role('b');
  const mIdx = role('m') >= 0 ? role('m') : role('b');
  const regNum = (idx: number): number => {
    const op = ops[idx];
    return op && op.kind === 'reg' ? op.reg.num : 0;
  };
  let immCursor = 0;
  const immOps = [...form.roles].map((ch, i) => (ch === 'i' ? i : -1)).filter((i) => i >= 0);
  const nextImm = (): { v: Value; col: number } => {
    const idx = immOps[immCursor++];
    const v = values[idx];
    const op = ops[idx];
    if (!v || !op) throw new AsmError('internal: missing immediate', undefined);
    return { v, col: op.col };
  };
  const modrm = (regField: number): void => {
    const op = ops[mIdx];
    if (!op) throw new AsmError('internal: missing r/m operand', undefined);
    if (op.kind === 'reg') {
      body.push(0xc0 | ((regField & 7) << 3) | op.reg.num);
      return;
    }
    if (op.kind !== 'mem') throw new AsmError('invalid operand', op.col);
    const mem: MemOperand = op;
    const v = values[mIdx];
    if (!v) throw new AsmError('invalid memory operand', op.col);
    let ea;
    try {
      ea = encodeEa(regField, v, { nosplit: mem.nosplit, dispSize: mem.dispSize, defaultAsize: asize ?? env.bits });
    } catch (e) {
      if (e instanceof AsmError) throw new AsmError(e.message, op.col);
      throw e;
    }
    if (asize !== undefined && asize !== ea.asize && v.regs.size > 0) throw new AsmError('impossible combination of address sizes', op.col);
    asize = ea.asize;
    if (ea.dispOverflow && env.final && !v.unknown) env.warn('byte data exceeds bounds', op.col);
    if (mem.seg) seg = mem.seg;
    body.push(...ea.bytes);
    if (op.kind === 'mem') {
      const first = ea.bytes[0];
      const hasSib = ea.asize === 32 && (first & 7) === 4 && first >> 6 !== 3;
      const dispSize = ea.bytes.length - (hasSib ? 2 : 1);
      if (dispSize > 0) noteReloc(v, dispSize);
    }
  };
  for (const t of form.code) {
    if (/^[oa](16|32)$/.test(t)) continue;
    if (/^[0-9A-F]{2}$/.test(t)) {
      body.push(parseInt(t, 16));
      continue;
    }
    if (/^[0-9A-F]{2}\+r$/.test(t)) {
      body.push(parseInt(t.slice(0, 2), 16) + regNum(rIdx));
      continue;
    }
    if (t === '/r') {
      const rop = ops[rIdx];
      const field = rop && rop.kind === 'reg' ? rop.reg.num : 0;
      modrm(field);
      continue;
    }
    if (/^\/[0-7]$/.test(t)) {
      modrm(Number(t[1]));
      continue;
    }
    if (t === 'ib' || t === 'ibs' || t === 'ibu' || t === 'iw' || t === 'id') {
      const { v, col } = nextImm();
      const n = t === 'iw' ? 2 : t === 'id' ? 4 : 1;
      if (env.final && !v.unknown && v.rel === null) {
        if (t === 'ibs') {
          // Judged after wrapping to the operand size: `add eax, 0xffffff80` is a fine -128.
          const w = BigInt.asIntN(osize ?? env.bits, v.n);
          if (w < -128n || w > 127n) env.warn('signed byte value exceeds bounds', col);
        } else if (t === 'ibu' ? v.n < 0n || v.n > 255n : !immRange(v.n, n, false)) {
          env.warn(`${n === 1 ? 'byte' : n === 2 ? 'word' : 'dword'} data exceeds bounds`, col);
        }
      }
      pushLE(body, v.n, n);
      noteReloc(v, n);
      continue;
    }
    if (t === 'rb' || t === 'rw' || t === 'rd') {
      const idx = form.roles.indexOf('j');
      const v = values[idx];
      if (!v) throw new AsmError('jump target expected', undefined);
      const size = t === 'rb' ? 1 : t === 'rw' ? 2 : 4;
      fixups.push({ at: body.length, size, target: v, col: ops[idx].col });
      for (let k = 0; k < size; k++) body.push(0);
      continue;
    }
    if (t === 'far') {
      const op = ops[form.roles.indexOf('f')];
      if (!op || op.kind !== 'farptr') throw new AsmError('far pointer expected', undefined);
      const segv = env.evaluate(op.seg);
      const offv = env.evaluate(op.off);
      const offSize = (osize ?? env.bits) === 32 ? 4 : 2;
      pushLE(body, offv.n, offSize);
      noteReloc(offv, offSize);
      pushLE(body, segv.n, 2);
      continue;
    }
    if (t === 'moffs') {
      const idx = form.roles.indexOf('o');
      const op = ops[idx];
      const v = values[idx];
      if (!op || op.kind !== 'mem' || !v) throw new AsmError('memory offset expected', undefined);
      const a = op.dispSize === 16 ? 16 : op.dispSize === 32 ? 32 : asize ?? env.bits;
      asize = a;
      if (op.seg) seg = op.seg;
      pushLE(body, v.n, a === 32 ? 4 : 2);
      noteReloc(v, a === 32 ? 4 : 2);
      continue;
    }
    throw new AsmError(`internal: bad encoding token ${t}`, undefined);
  }
  const pre: number[] = [];
  if (prefixes.lock) pre.push(0xf0);
  if (prefixes.rep !== undefined) pre.push(prefixes.rep);
  if (seg) pre.push(SEG_PREFIX[seg.name]);
  if (osize !== undefined && osize !== env.bits) pre.push(0x66);
  if (asize !== undefined && asize !== env.bits) pre.push(0x67);
  const bytes = [...pre, ...body];
  const end = env.address + BigInt(bytes.length);
  for (const f of fixups) {
    const v = f.target;
    // nasm shortens only jumps to labels in the same section; a plain number is never short.
    const sameSection = v.rel === env.section;
    let disp = v.n - end;
    const at = pre.length + f.at;
    if (f.size === 1) {
      const ok = !v.unknown && sameSection && disp >= -128n && disp <= 127n;
      if (!ok && !v.unknown) {
        const op = ops[form.roles.indexOf('j')];
        const explicitShort = op && op.kind === 'imm' && op.jump === 'short';
        if (form.hasNear && !explicitShort && !jump.long) {
          jump.long = true;
          jump.grew = true;
        } else if (env.final && sameSection) throw new AsmError('short jump is out of range', f.col);
        // A short-only jump to a plain address is not range-checked: nasm truncates it.
      }
      if (v.unknown) disp = 0n;
    }
    if (f.size === 2) disp = BigInt.asIntN(16, disp);
    // nasm's listing shows a relative field aimed at a plain address as that address in parentheses.
    if (v.rel === null && !v.unknown && v.regs.size === 0) relocs.push({ at: at - pre.length, size: f.size, shown: v.n, absolute: true });
    const tmp: number[] = [];
    pushLE(tmp, disp, f.size);
    for (let k = 0; k < f.size; k++) bytes[at + k] = tmp[k];
  }
  for (const r of relocs) r.at += pre.length;
  return { bytes, relocs };
}
