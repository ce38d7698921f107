// The instruction kinds the generator draws from. A case holds a short
// sequence from ONE category, so a difference points at one instruction
// family; `undefinedFlags` are the flags the SDM leaves undefined for the
// family (compared separately: Bochs sets them as Intel parts do).

import { CASE_ESP, CaseBuilder, SCRATCH, SCRATCH_SIZE, hex32, imm, sizeWord, type Size } from './builder';

export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
export const STATUS_FLAGS = CF | PF | AF | ZF | SF | OF;

export interface Category {
  name: string;
  /** Relative share of the generated cases. */
  weight: number;
  /** Instructions per case (inclusive range). */
  length: [number, number];
  undefinedFlags: number;
  /** The whole result is implementation-specific (the SDM calls the register result undefined). */
  implementationDefined?: boolean;
  /** Cases end in an exception on purpose (compared by vector and error code). */
  faults?: boolean;
  gen(b: CaseBuilder): void;
}

const CONDS = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const ACC: Record<Size, string> = { 8: 'al', 16: 'ax', 32: 'eax' };

function anySize(b: CaseBuilder): Size {
  return b.rng.pick([8, 16, 32] as const);
}
function wideSize(b: CaseBuilder): Size {
  return b.rng.pick([16, 32] as const);
}

/** Register or memory operand of `size` (memory 40 % of the time). */
function rm(b: CaseBuilder, size: Size, keep: readonly string[] = []): string {
  return b.rng.chance(0.4) ? b.mem(size, { keep }) : b.reg(size, keep);
}

/** Sometimes a LOCK prefix, where it is legal (a memory destination). */
function lock(b: CaseBuilder, dst: string): string {
  return dst.includes('[') && b.rng.chance(0.15) ? 'lock ' : '';
}

function immFor(b: CaseBuilder, size: Size): string {
  // Small values make NASM choose the sign-extended imm8 encodings.
  const v = b.rng.chance(0.4) ? b.rng.range(-128, 127) : b.value(size);
  return imm(v, size);
}

function lockable(op: string): boolean {
  return op !== 'cmp' && op !== 'test';
}

function alu(b: CaseBuilder): void {
  const op = b.rng.pick(['add', 'adc', 'sub', 'sbb', 'cmp', 'and', 'or', 'xor', 'test']);
  const size = anySize(b);
  const form = b.rng.int(6);
  if (form === 0) b.emit(`${op} ${b.reg(size)}, ${b.reg(size)}`);
  else if (form === 1) b.emit(`${op} ${b.rng.chance(0.3) ? ACC[size] : b.reg(size)}, ${immFor(b, size)}`);
  else if (form === 2) { const m = b.mem(size); b.emit(`${op} ${b.reg(size)}, ${m}`); }
  else if (form === 3) { const m = b.mem(size); b.emit(`${lockable(op) ? lock(b, m) : ''}${op} ${m}, ${b.reg(size)}`); }
  else if (form === 4) { const m = b.mem(size); b.emit(`${lockable(op) ? lock(b, m) : ''}${op} ${m}, ${immFor(b, size)}`); }
  else b.emit(`${op} ${ACC[size]}, ${b.reg(size)}`);
}

function unary(ops: readonly string[]) {
  return (b: CaseBuilder): void => {
    const dst = rm(b, anySize(b));
    b.emit(`${lock(b, dst)}${b.rng.pick(ops)} ${dst}`);
  };
}

/** Shift/rotate count: 1, CL (set to 0..40 or any byte) or an immediate 0..40. */
function shiftLike(ops: readonly string[]) {
  return (b: CaseBuilder): void => {
    const op = b.rng.pick(ops);
    const size = anySize(b);
    const dst = rm(b, size, ['ecx']);
    const kind = b.rng.int(3);
    if (kind === 0) b.emit(`${op} ${dst}, 1`);
    else if (kind === 1) {
      b.emit(`mov cl, ${b.rng.chance(0.8) ? b.rng.range(0, 40) : b.rng.int(256)}`);
      b.emit(`${op} ${dst}, cl`);
    } else b.emit(`${op} ${dst}, ${b.rng.range(0, 40)}`);
  };
}

/** shld/shrd; `big` selects 16-bit counts 17..31, whose result the SDM leaves undefined. */
function doubleShift(big: boolean) {
  return (b: CaseBuilder): void => {
    const op = b.rng.pick(['shld', 'shrd']);
    const size: Size = big ? 16 : wideSize(b);
    const src = b.reg(size, ['ecx']);
    const dst = rm(b, size, ['ecx', src]);
    let count: number;
    if (big) count = b.rng.range(17, 31) + (b.rng.chance(0.3) ? 32 * b.rng.range(1, 7) : 0);
    else if (size === 16) count = b.rng.range(0, 16) + (b.rng.chance(0.2) ? 32 : 0);
    else count = b.rng.range(0, 40);
    if (b.rng.chance(0.5)) {
      b.emit(`mov cl, ${count & 0xff}`);
      b.emit(`${op} ${dst}, ${src}, cl`);
    } else b.emit(`${op} ${dst}, ${src}, ${count & 0xff}`);
  };
}

function mul(b: CaseBuilder): void {
  b.emit(`mul ${rm(b, anySize(b))}`);
}

function imul(b: CaseBuilder): void {
  const form = b.rng.int(4);
  if (form === 0) { b.emit(`imul ${rm(b, anySize(b))}`); return; }
  const size = wideSize(b);
  const dst = b.reg(size);
  if (form === 1) b.emit(`imul ${dst}, ${rm(b, size)}`);
  else if (form === 2) b.emit(`imul ${dst}, ${immFor(b, size)}`);
  else b.emit(`imul ${dst}, ${rm(b, size)}, ${immFor(b, size)}`);
}

function signed(v: bigint, bits: number): bigint {
  return BigInt.asIntN(bits, v);
}

/** Sets the dividend (AX, DX:AX or EDX:EAX) to `value` (2*size bits). */
function setDividend(b: CaseBuilder, size: Size, value: bigint): void {
  const v = BigInt.asUintN(size * 2, value);
  if (size === 8) { b.emit(`mov ax, 0x${v.toString(16)}`); return; }
  const lo = Number(v & ((1n << BigInt(size)) - 1n));
  const hi = Number(v >> BigInt(size));
  b.emit(`mov ${size === 16 ? 'dx' : 'edx'}, 0x${hi.toString(16)}`);
  b.emit(`mov ${size === 16 ? 'ax' : 'eax'}, 0x${lo.toString(16)}`);
}

/** div/idiv with operands chosen so the quotient fits (no #DE). */
function divide(isSigned: boolean) {
  return (b: CaseBuilder): void => {
    const size = anySize(b);
    const bits = BigInt(size);
    let d = 0n;
    while (d === 0n) d = BigInt(b.value(size));
    let dividend: bigint;
    if (!isSigned) {
      const hi = BigInt(b.rng.int(Number(d)));
      const lo = BigInt(b.value(size));
      dividend = (hi << bits) | lo;
    } else {
      const ds = signed(d, size);
      const half = 1n << (bits - 1n);
      let q = signed(BigInt(b.value(size)), size);
      if (q === -half && !b.rng.chance(0.3)) q += 1n;
      const mag = ds < 0n ? -ds : ds;
      const prod = q * ds;
      let r = BigInt(b.rng.int(Math.min(Number(mag), 0x7fffffff)));
      if (prod < 0n || (prod === 0n && b.rng.chance(0.5))) r = -r;
      dividend = prod + r;
    }
    const divisorInReg = b.rng.chance(0.6);
    let operand: string;
    if (divisorInReg) {
      operand = b.reg(size, ['eax', 'edx']);
      b.emit(`mov ${operand}, ${imm(Number(d), size)}`);
    } else {
      operand = b.mem(size, { keep: ['eax', 'edx'] });
      b.emit(`mov ${operand}, ${imm(Number(d), size)}`);
    }
    setDividend(b, size, dividend);
    b.emit(`${isSigned ? 'idiv' : 'div'} ${operand}`);
  };
}

function bitTest(b: CaseBuilder): void {
  const op = b.rng.pick(['bt', 'bts', 'btr', 'btc']);
  const size = wideSize(b);
  const form = b.rng.int(4);
  if (form === 0) b.emit(`${op} ${b.reg(size)}, ${b.reg(size)}`);
  else if (form === 1) {
    const dst = rm(b, size);
    b.emit(`${op === 'bt' ? '' : lock(b, dst)}${op} ${dst}, ${b.rng.chance(0.7) ? b.rng.int(size) : b.rng.int(256)}`);
  }
  else {
    // memory with a register bit offset: the offset may reach other words, backwards too
    const unit = size / 8;
    const offReg = b.reg(size);
    const addr = b.target(unit);
    const lo = Math.ceil((SCRATCH - addr) / unit);
    const hi = Math.floor((SCRATCH + SCRATCH_SIZE - unit - addr) / unit);
    const k = b.rng.range(lo, hi);
    const offset = k * size + b.rng.int(size);
    const m = `${sizeWord(size)} ${b.address(addr, { keep: [offReg] })}`;
    b.emit(`mov ${offReg}, ${imm(offset, size)}`);
    b.emit(`${op === 'bt' ? '' : lock(b, m)}${op} ${m}, ${offReg}`);
  }
}

function bitScan(b: CaseBuilder): void {
  const op = b.rng.pick(['bsf', 'bsr']);
  const size = wideSize(b);
  const dst = b.reg(size);
  const src = rm(b, size, [dst]);
  if (b.rng.chance(0.25)) b.emit(`mov ${src}, 0`);
  b.emit(`${op} ${dst}, ${src}`);
}

function setcc(b: CaseBuilder): void {
  if (b.rng.chance(0.4)) { const s = anySize(b); b.emit(`cmp ${b.reg(s)}, ${b.reg(s)}`); }
  b.emit(`set${b.rng.pick(CONDS)} ${rm(b, 8)}`);
}

function cmovcc(b: CaseBuilder): void {
  if (b.rng.chance(0.4)) { const s = anySize(b); b.emit(`cmp ${b.reg(s)}, ${b.reg(s)}`); }
  const size = wideSize(b);
  const dst = b.reg(size);
  b.emit(`cmov${b.rng.pick(CONDS)} ${dst}, ${rm(b, size)}`);
}

function convert(b: CaseBuilder): void {
  b.emit(b.rng.pick(['cbw', 'cwde', 'cwd', 'cdq']));
}

function xadd(b: CaseBuilder): void {
  const size = anySize(b);
  const src = b.reg(size);
  const dst = b.rng.chance(0.1) ? src : rm(b, size, [src]);
  b.emit(`${lock(b, dst)}xadd ${dst}, ${src}`);
}

function cmpxchg(b: CaseBuilder): void {
  const size = anySize(b);
  const acc = ACC[size];
  const src = b.rng.chance(0.15) ? acc : b.reg(size);
  const dst = rm(b, size, ['eax', src]);
  if (b.rng.chance(0.5) && dst !== acc) b.emit(`mov ${acc}, ${dst}`);
  b.emit(`${lock(b, dst)}cmpxchg ${dst}, ${src}`);
}

function bswap(b: CaseBuilder): void {
  b.emit(`bswap ${b.reg(32)}`);
}

function bcd(adjust: readonly string[], prep: boolean) {
  return (b: CaseBuilder): void => {
    if (prep && b.rng.chance(0.6)) {
      const op = b.rng.pick(['add', 'adc', 'sub', 'sbb']);
      b.emit(`${op} al, ${b.rng.chance(0.5) ? b.reg(8, ['eax']) : imm(b.value(8), 8)}`);
    }
    b.emit(b.rng.pick(adjust));
  };
}

function asciiAdjust(b: CaseBuilder): void {
  const op = b.rng.pick(['aam', 'aad']);
  const r = b.rng.int(4);
  if (r === 0) b.emit(op);
  else b.emit(`${op} ${op === 'aam' ? b.rng.range(1, 255) : b.rng.int(256)}`);
}

function flagOps(b: CaseBuilder): void {
  b.emit(b.rng.pick(['lahf', 'sahf', 'clc', 'stc', 'cmc', 'cld', 'std']));
}

function movx(b: CaseBuilder): void {
  const op = b.rng.pick(['movzx', 'movsx']);
  if (b.rng.chance(0.5)) {
    const dst = b.reg(wideSize(b));
    b.emit(`${op} ${dst}, ${rm(b, 8)}`);
  } else b.emit(`${op} ${b.reg(32)}, ${rm(b, 16)}`);
}

/** lea over every addressing form; the registers keep their random values. */
function lea(b: CaseBuilder): void {
  const rng = b.rng;
  const dst = b.reg(wideSize(b));
  if (rng.chance(0.25)) {
    const forms = ['bx+si', 'bx+di', 'bp+si', 'bp+di', 'si', 'di', 'bp', 'bx'];
    const d = rng.pick([0, rng.range(-128, 127), rng.int(0x10000)]);
    b.emit(`lea ${dst}, [${rng.pick(forms)}${d === 0 ? '' : `+0x${(d & 0xffff).toString(16)}`}]`);
    return;
  }
  const all = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
  const d = rng.pick([0, rng.range(-128, 127), rng.u32() | 0]);
  const ds = d === 0 ? '' : d < 0 ? `-0x${(-d).toString(16)}` : `+0x${d.toString(16)}`;
  const form = rng.int(4);
  const base = rng.pick(all);
  const index = rng.pick(all.filter((r) => r !== 'esp'));
  const scale = rng.pick([1, 2, 4, 8]);
  if (form === 0) b.emit(`lea ${dst}, [${base}${ds}]`);
  else if (form === 1) b.emit(`lea ${dst}, [${base}+${index}*${scale}${ds}]`);
  else if (form === 2) b.emit(`lea ${dst}, [${index}*${scale}${ds}]`);
  else b.emit(`lea ${dst}, [${hex32(d)}]`);
}

/** push/pop within the scratch area; ESP is tracked so the stack stays inside it. */
function stack(b: CaseBuilder): void {
  const rng = b.rng;
  const low = SCRATCH - CASE_ESP + 0x10; // most negative ESP offset allowed
  const high = SCRATCH + SCRATCH_SIZE - CASE_ESP - 0x24;
  const canPush = (n: number) => b.espOffset - n >= low;
  const canPop = (n: number) => b.espOffset + n <= high;
  const r = rng.int(12);
  if (r === 0 && canPush(32)) { b.emit('pushad'); b.espOffset -= 32; return; }
  if (r === 1 && canPop(32)) { b.emit('popad'); b.espOffset += 32; return; }
  if (r === 2 && canPush(4) && canPop(4)) {
    // ESP-relative operands: push computes the address before the decrement, pop after the increment
    const d = rng.int(17);
    if (rng.chance(0.5)) { b.emit(`push dword [esp+${d}]`); b.espOffset -= 4; }
    else { b.emit(`pop dword [esp+${d}]`); b.espOffset += 4; }
    return;
  }
  if (r === 3 && canPush(4)) {
    // popf with the status flags, DF, NT, AC and ID in any combination
    const bits = 2 | (rng.u32() & (0x8d5 | 0x400 | 0x4000 | 0x40000 | 0x200000));
    if (rng.chance(0.8)) b.emit(`push dword ${hex32(bits)}`, 'popfd');
    else b.emit(`push word 0x${(bits & 0xffff).toString(16)}`, 'popfw');
    return;
  }
  if (r === 4) {
    const level = rng.int(5);
    const size = rng.pick([0, 4, 8, rng.int(25)]);
    const need = 4 + 4 * level + size + 4;
    if (canPush(need)) {
      // 16-bit code: enter sets only BP and leave loads ESP from all of EBP, so clear its top half
      if (level > 1 || b.bits === 16) b.emit(`mov ebp, ${hex32(SCRATCH + rng.range(4 * level, SCRATCH_SIZE - 4))}`);
      b.emit(`enter ${size}, ${level}`);
      if (rng.chance(0.5)) b.emit(`push dword ${imm(rng.value(32), 32)}`);
      b.emit('leave');
      return;
    }
  }
  const size = rng.pick([16, 32, 32] as const);
  const n = size / 8;
  if ((r < 8 && canPush(n)) || !canPop(n)) {
    const what = rng.int(5);
    let src: string;
    if (what === 0) src = `${sizeWord(size)} ${imm(rng.value(size), size)}`;
    else if (what === 1) src = `${sizeWord(size)} ${rng.range(-128, 127)}`;
    else if (what === 2) src = rng.chance(0.2) ? (size === 32 ? 'esp' : 'sp') : b.reg(size);
    else if (what === 3) src = b.mem(size);
    else src = size === 32 ? 'pushfd' : 'pushfw';
    b.emit(src.startsWith('pushf') ? src : `push ${src}`);
    b.espOffset -= n;
  } else {
    const dst = rng.chance(0.7) ? b.reg(size) : b.mem(size);
    b.emit(`pop ${dst}`);
    b.espOffset += n;
  }
}

/** Segment registers: reads zero-extend on P6 and later, pushes write 16 or 32 bits. */
function sreg(b: CaseBuilder): void {
  const rng = b.rng;
  const seg = rng.pick(['ds', 'es', 'fs', 'gs', 'ss', 'cs']);
  const r = rng.int(5);
  if (r === 0) b.emit(`mov ${b.reg(wideSize(b))}, ${seg}`);
  else if (r === 1) b.emit(`mov ${b.mem(16).replace('word ', '')}, ${seg}`);
  else if (r === 2) {
    const reg = b.reg(16);
    b.emit(`mov ${reg}, 0x10`, `mov ${rng.pick(['ds', 'es', 'fs', 'gs', 'ss'])}, ${reg}`);
  } else {
    const o16 = rng.chance(0.3) ? 'o16 ' : '';
    // (not CS: a read-only code segment in DS would break the harness)
    const from = seg === 'cs' ? 'fs' : seg;
    b.emit(`${o16}push ${from}`, `${o16}pop ${rng.pick(['ds', 'es', 'fs', 'gs', 'ss'])}`);
  }
}

function mov(b: CaseBuilder): void {
  const size = anySize(b);
  const form = b.rng.int(7);
  if (form === 0) b.emit(`mov ${b.reg(size)}, ${b.reg(size)}`);
  else if (form === 1) b.emit(`mov ${b.reg(size)}, ${imm(b.value(size), size)}`);
  else if (form === 2) { const m = b.mem(size); b.emit(`mov ${b.reg(size)}, ${m}`); }
  else if (form === 3) { const m = b.mem(size); b.emit(`mov ${m}, ${b.reg(size)}`); }
  else if (form === 4) { const m = b.mem(size); b.emit(`mov ${m}, ${imm(b.value(size), size)}`); }
  else if (form === 5) {
    // the accumulator's moffs forms (A0-A3)
    const at = `[${hex32(b.target(size / 8))}]`;
    b.emit(b.rng.chance(0.5) ? `mov ${ACC[size]}, ${at}` : `mov ${at}, ${ACC[size]}`);
  } else {
    b.emit(`mov ebx, ${hex32(SCRATCH + b.rng.int(SCRATCH_SIZE - 0x100))}`, 'xlatb');
  }
}

/** Instructions that must fault; the harness prints the vector and error code. */
function exception(b: CaseBuilder): void {
  const rng = b.rng;
  const size = anySize(b);
  const r = rng.int(12);
  if (r === 0) {
    const d = b.reg(size, ['eax', 'edx']);
    b.emit(`mov ${d}, 0`, `${rng.pick(['div', 'idiv'])} ${d}`);
  } else if (r === 1) {
    // quotient too large
    const d = b.reg(size, ['eax', 'edx']);
    const dv = rng.range(1, 0x7f);
    b.emit(`mov ${d}, ${dv}`);
    if (size === 8) b.emit(`mov ax, 0x${((rng.range(dv, 0xff) << 8) | rng.int(256)).toString(16)}`);
    else b.emit(`mov ${size === 16 ? 'dx' : 'edx'}, ${rng.range(dv, 0x7fff)}`);
    b.emit(`div ${d}`);
  } else if (r === 2) {
    const d = b.reg(size, ['eax', 'edx']);
    const acc = ACC[size];
    b.emit(`mov ${d}, -1`);
    if (size === 8) b.emit('mov ax, -128');
    else b.emit(`mov ${acc}, ${size === 16 ? '-0x8000' : '-0x80000000'}`, size === 16 ? 'cwd' : 'cdq');
    b.emit(`idiv ${d}`);
  } else if (r === 3) b.emit('aam 0');
  else if (r === 4) b.emit(rng.pick(['ud2', 'db 0x0f, 0xff', 'db 0x0f, 0x0b']));
  else if (r === 5) b.emit(rng.pick(['int3', 'int 0x1e', 'int 5', 'int 0x13']));
  else if (r === 6) b.emit(`mov al, 0x7f`, 'add al, 1', 'into');
  else if (r === 7) {
    const lo = rng.int(0x100);
    const m = b.mem(32, { span: 8, keep: ['eax'] });
    const inner = m.slice('dword '.length);
    b.emit(`mov dword ${inner}, ${lo}`, `mov dword ${inner.replace(/\]$/, '+4]')}, ${lo + rng.int(0x100)}`);
    b.emit(`mov eax, ${rng.chance(0.5) ? lo - rng.range(1, 100) : lo + 0x200}`, `bound eax, ${inner}`);
  } else if (r === 8) {
    // LOCK on a register destination or on an instruction that cannot take it
    b.emit('db 0xf0', rng.pick(['add eax, ebx', 'inc ecx', 'mov eax, [ebx]', 'cmp [ebx], eax', 'nop']));
  } else if (r === 9) {
    // segment loads that fail their checks: #GP(selector) or #GP(0) for a null SS
    const reg = b.reg(16);
    // (the readable code segments 0x08 and 0x18 are only illegal for SS; in DS they would break the harness)
    const sel = rng.pick([0x28, 0x30, 0x0b, 0x13, 0x08, 0x18, 0x0]);
    const dst = [0, 0x08, 0x18].includes(sel) ? 'ss' : rng.pick(['ds', 'es', 'fs', 'gs', 'ss']);
    b.emit(`mov ${reg}, 0x${sel.toString(16)}`, `mov ${dst}, ${reg}`);
  } else if (r === 10) b.emit('db 0x8e, 0xc8'); // mov cs, ax
  else b.emit(rng.pick(['db 0xc4, 0xc0', 'db 0xc5, 0xc0', 'db 0x0f, 0xb2, 0xc0', 'db 0x8d, 0xc0'])); // register forms of les/lds/lss/lea
}

/** Forward branches only (jcc, loop family, jcxz, call/ret), so a case still runs straight through. */
function branch(b: CaseBuilder): void {
  const rng = b.rng;
  const skip = b.label();
  const body = (): void => alu(b);
  const r = rng.int(7);
  if (r <= 1) {
    if (rng.chance(0.4)) { const s = anySize(b); b.emit(`cmp ${b.reg(s)}, ${b.reg(s)}`); }
    b.emit(`j${rng.pick(CONDS)} ${rng.chance(0.7) ? 'short ' : 'near '}${skip}`);
    body();
    b.emit(`${skip}:`);
  } else if (r === 2) {
    const op = rng.pick(['loop', 'loope', 'loopne']);
    const a16 = rng.chance(0.25);
    b.emit(`mov ${a16 ? 'cx' : 'ecx'}, ${rng.pick([0, 1, 2, rng.int(0x10000)])}`);
    b.emit(`${op} ${skip}${a16 ? ', cx' : ''}`);
    body();
    b.emit(`${skip}:`);
  } else if (r === 3) {
    const cx = rng.chance(0.3);
    if (rng.chance(0.6)) b.emit(`mov ${cx ? 'cx' : 'ecx'}, ${rng.pick([0, 1, 0x10000])}`);
    b.emit(`${cx ? 'jcxz' : 'jecxz'} ${skip}`);
    body();
    b.emit(`${skip}:`);
  } else if (r === 4 || r === 5) {
    // call/ret through the scratch stack; ret imm16 drops an argument pushed before the call
    const fn = b.label();
    const arg = rng.chance(0.4);
    if (arg) b.emit(`push dword ${imm(rng.value(32), 32)}`);
    b.emit(`call ${fn}`, `jmp ${skip}`, `${fn}:`);
    // register operands only: a memory write could hit the return address
    const op = rng.pick(['add', 'adc', 'sub', 'sbb', 'cmp', 'and', 'or', 'xor', 'test']);
    const size = anySize(b);
    b.emit(`${op} ${b.reg(size)}, ${rng.chance(0.5) ? b.reg(size) : immFor(b, size)}`);
    b.emit(arg ? 'ret 4' : 'ret', `${skip}:`);
  } else {
    // an indirect jump through a register or memory to the next label
    const reg = b.reg(32);
    if (rng.chance(0.5)) b.emit(`mov ${reg}, ${b.offset(skip)}`, `jmp ${reg}`);
    else {
      const m = b.mem(32);
      b.emit(`mov ${m}, ${b.offset(skip)}`, `jmp ${m}`);
    }
    body();
    b.emit(`${skip}:`);
  }
}

function nops(b: CaseBuilder): void {
  // 0F 1F 80 takes a disp32 in 32-bit code and a disp16 in 16-bit code
  const long = b.bits === 16 ? 'db 0x0f, 0x1f, 0x80, 0, 0' : 'db 0x0f, 0x1f, 0x80, 0, 0, 0, 0';
  b.emit(b.rng.pick(['nop', 'xchg ax, ax', 'nop dword [eax+eax*1+0x0]', 'nop word [eax]', long, 'pause', 'db 0x66, 0x90']));
}

function xchg(b: CaseBuilder): void {
  const size = anySize(b);
  const r = b.reg(size);
  const form = b.rng.int(3);
  if (form === 0) b.emit(`xchg ${r}, ${b.rng.chance(0.1) ? r : b.reg(size)}`);
  else if (form === 1) b.emit(`xchg ${r}, ${b.mem(size, { keep: [r] })}`);
  else b.emit(`xchg ${b.mem(size, { keep: [r] })}, ${r}`);
}

function stringOp(b: CaseBuilder): void {
  const rng = b.rng;
  const op = rng.pick(['movs', 'movs', 'stos', 'lods', 'cmps', 'scas']);
  const suffix = rng.pick(['b', 'w', 'd']);
  const prefixes = op === 'cmps' || op === 'scas' ? ['', 'repe ', 'repne '] : ['', 'rep ', 'rep '];
  // 16-bit addressing (SI, DI, CX; the upper halves stay random) and a source segment override
  const extra = rng.pick(['', '', '', 'a16 ', `${rng.pick(['es', 'ss', 'fs', 'gs'])} `]);
  const prefix = rng.pick(prefixes) + extra;
  const margin = 0x40;
  const src = SCRATCH + rng.range(margin, SCRATCH_SIZE - margin - 4);
  // often overlapping closer than one element: each element is copied in turn
  const dst = rng.chance(0.4) ? src + rng.range(-4, 4) : SCRATCH + rng.range(margin, SCRATCH_SIZE - margin - 4);
  if (extra === 'a16 ') b.emit(`mov si, 0x${src.toString(16)}`, `mov di, 0x${dst.toString(16)}`);
  else b.emit(`mov esi, ${hex32(src)}`, `mov edi, ${hex32(dst)}`);
  if (prefix.startsWith('rep') || rng.chance(0.3)) b.emit(`mov ${extra === 'a16 ' ? 'cx' : 'ecx'}, ${rng.range(0, 12)}`);
  if (rng.chance(0.3)) b.emit(rng.pick(['cld', 'std']));
  if (op === 'scas' && rng.chance(0.5)) b.emit(`mov eax, [${hex32(dst)}]`);
  b.emit(`${prefix}${op}${suffix}`);
}

/** Families whose flags are all defined: sequences of them must match exactly. */
const defined: ((b: CaseBuilder) => void)[] = [
  alu, alu, alu, unary(['inc', 'dec']), unary(['neg', 'not']), setcc, cmovcc, convert, xadd, cmpxchg,
  bswap, flagOps, movx, lea, xchg, stringOp, mov, branch, nops,
];

function mixed(b: CaseBuilder): void {
  b.rng.pick(defined)(b);
}

export const CATEGORIES: readonly Category[] = [
  { name: 'alu', weight: 4, length: [1, 4], undefinedFlags: 0, gen: alu },
  { name: 'incdec', weight: 1, length: [1, 3], undefinedFlags: 0, gen: unary(['inc', 'dec']) },
  { name: 'negnot', weight: 1, length: [1, 3], undefinedFlags: 0, gen: unary(['neg', 'not']) },
  { name: 'shift', weight: 3, length: [1, 3], undefinedFlags: AF | OF, gen: shiftLike(['shl', 'sal', 'shr', 'sar']) },
  { name: 'rotate', weight: 2, length: [1, 3], undefinedFlags: OF, gen: shiftLike(['rol', 'ror']) },
  { name: 'rcl-rcr', weight: 3, length: [1, 3], undefinedFlags: OF, gen: shiftLike(['rcl', 'rcr']) },
  { name: 'shld-shrd', weight: 2, length: [1, 3], undefinedFlags: AF | OF, gen: doubleShift(false) },
  { name: 'shld-shrd-16-over', weight: 1, length: [1, 1], undefinedFlags: STATUS_FLAGS, implementationDefined: true, gen: doubleShift(true) },
  { name: 'mul', weight: 1, length: [1, 3], undefinedFlags: SF | ZF | AF | PF, gen: mul },
  { name: 'imul', weight: 2, length: [1, 3], undefinedFlags: SF | ZF | AF | PF, gen: imul },
  { name: 'div', weight: 1, length: [1, 2], undefinedFlags: STATUS_FLAGS, gen: divide(false) },
  { name: 'idiv', weight: 1, length: [1, 2], undefinedFlags: STATUS_FLAGS, gen: divide(true) },
  { name: 'bt', weight: 2, length: [1, 3], undefinedFlags: OF | SF | AF | PF, gen: bitTest },
  { name: 'bsf-bsr', weight: 1, length: [1, 2], undefinedFlags: CF | OF | SF | AF | PF, gen: bitScan },
  { name: 'setcc', weight: 1, length: [1, 3], undefinedFlags: 0, gen: setcc },
  { name: 'cmovcc', weight: 1, length: [1, 3], undefinedFlags: 0, gen: cmovcc },
  { name: 'convert', weight: 1, length: [1, 2], undefinedFlags: 0, gen: convert },
  { name: 'xadd', weight: 1, length: [1, 2], undefinedFlags: 0, gen: xadd },
  { name: 'cmpxchg', weight: 1, length: [1, 2], undefinedFlags: 0, gen: cmpxchg },
  { name: 'bswap', weight: 1, length: [1, 2], undefinedFlags: 0, gen: bswap },
  { name: 'daa-das', weight: 1, length: [1, 3], undefinedFlags: OF, gen: bcd(['daa', 'das'], true) },
  { name: 'aaa-aas', weight: 1, length: [1, 3], undefinedFlags: OF | SF | ZF | PF, gen: bcd(['aaa', 'aas'], true) },
  { name: 'aam-aad', weight: 1, length: [1, 2], undefinedFlags: CF | OF | AF, gen: asciiAdjust },
  { name: 'flag-ops', weight: 1, length: [2, 5], undefinedFlags: 0, gen: flagOps },
  { name: 'movzx-movsx', weight: 1, length: [1, 3], undefinedFlags: 0, gen: movx },
  { name: 'lea', weight: 2, length: [1, 4], undefinedFlags: 0, gen: lea },
  { name: 'push-pop', weight: 3, length: [2, 8], undefinedFlags: 0, gen: stack },
  { name: 'segment-registers', weight: 1, length: [1, 3], undefinedFlags: 0, implementationDefined: true, gen: sreg },
  { name: 'mov', weight: 2, length: [1, 4], undefinedFlags: 0, gen: mov },
  { name: 'branch', weight: 2, length: [1, 4], undefinedFlags: 0, gen: branch },
  { name: 'exceptions', weight: 2, length: [1, 1], undefinedFlags: 0, faults: true, gen: exception },
  { name: 'xchg', weight: 1, length: [1, 3], undefinedFlags: 0, gen: xchg },
  { name: 'string', weight: 2, length: [1, 2], undefinedFlags: 0, gen: stringOp },
  { name: 'mixed', weight: 3, length: [6, 12], undefinedFlags: 0, gen: mixed },
];

export function categoryByName(name: string): Category {
  const c = CATEGORIES.find((k) => k.name === name);
  if (!c) throw new Error(`unknown category ${name}`);
  return c;
}
