// Builds one case's NASM lines: picks registers, immediates and memory
// operands, and emits the setup moves that make every memory operand land
// inside the scratch area whatever the random register values are.

import type { Rng } from './prng';

/** Layout shared with test/fixtures/bochs/harness.asm. */
export const SCRATCH = 0x1000;
export const SCRATCH_SIZE = 0x200;
export const CASE_ESP = 0x1180;
/** Base of the harness's 16-bit code segment: labels minus this are 16-bit offsets. */
export const CODE16_BASE = 0x7c00;

export type Size = 8 | 16 | 32;

export const REGS: Record<Size, readonly string[]> = {
  8: ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'],
  16: ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'],
  32: ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'],
};
const SIZE_WORD: Record<Size, string> = { 8: 'byte', 16: 'word', 32: 'dword' };

export function sizeWord(size: Size): string {
  return SIZE_WORD[size];
}

/** NASM text for an immediate of the given width: negative when the sign bit is set. */
export function imm(value: number, size: Size): string {
  const mask = size === 32 ? 0xffffffff : (1 << size) - 1;
  const v = (value & mask) >>> 0;
  const sign = size === 32 ? 0x80000000 : 1 << (size - 1);
  if (v & sign) return `-0x${((mask - v + 1) >>> 0).toString(16)}`;
  return `0x${v.toString(16)}`;
}

export function hex32(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
}

export interface MemOptions {
  /** Bytes the access touches from the effective address (default: the operand size). */
  span?: number;
  /** Allow 16-bit addressing forms (default true). */
  a16?: boolean;
  /** Registers the setup must not clobber. */
  keep?: readonly string[];
}

export class CaseBuilder {
  readonly lines: string[] = [];
  /** ESP relative to CASE_ESP, tracked by the stack category. */
  espOffset = 0;
  private labels = 0;

  /** @param bits code-segment size the case runs in */
  constructor(readonly rng: Rng, readonly bits: 16 | 32 = 32) {}

  /** NASM expression for a label's offset in the case's code segment. */
  offset(label: string): string {
    return this.bits === 16 ? `${label} - ${CODE16_BASE}` : label;
  }

  /** A fresh NASM local label (local to the case's own label). */
  label(): string {
    return `.l${this.labels++}`;
  }

  emit(...lines: string[]): void {
    this.lines.push(...lines);
  }

  /** A general register of `size`; never ESP/SP (the harness needs a sane stack). */
  reg(size: Size, avoid: readonly string[] = []): string {
    const taken = avoid.map(parent32);
    const choices = REGS[size].filter((r) => r !== 'esp' && r !== 'sp' && !taken.includes(parent32(r)));
    return this.rng.pick(choices);
  }

  value(size: Size): number {
    return this.rng.value(size);
  }

  /** A scratch address where `span` bytes fit. */
  target(span: number): number {
    return SCRATCH + this.rng.int(SCRATCH_SIZE - span + 1);
  }

  /**
   * A memory operand (with size keyword) addressing `span` bytes inside the
   * scratch area; emits the moves that set up its base and index registers.
   */
  mem(size: Size, opts: MemOptions = {}): string {
    const span = opts.span ?? size / 8;
    const addr = this.address(this.target(span), opts);
    // a redundant segment override now and then (all data segments are flat)
    const seg = this.rng.chance(0.1) ? `${this.rng.pick(['ds', 'es', 'ss', 'fs', 'gs'])}:` : '';
    return `${sizeWord(size)} [${seg}${addr.slice(1)}`;
  }

  /** The bracketed address expression for linear address `addr`, with setup. */
  address(addr: number, opts: MemOptions = {}): string {
    const rng = this.rng;
    const keep = opts.keep ?? [];
    const form = rng.int(10);
    if ((opts.a16 ?? true) && form === 0) return this.address16(addr, keep);
    if (form === 1) return `[${hex32(addr)}]`;
    if (form === 2 && this.espOffset === 0 && !keep.includes('esp')) {
      return `[esp${disp(addr - CASE_ESP)}]`;
    }
    const base = this.reg(32, keep);
    const d = rng.pick([0, 0, rng.range(-128, 127), rng.range(-0x8000, 0x8000), rng.u32() | 0]);
    if (form < 6) {
      this.emit(`mov ${base}, ${hex32(addr - d)}`);
      return `[${base}${disp(d)}]`;
    }
    const index = this.reg(32, [...keep, base]);
    const scale = rng.pick([1, 2, 4, 8]);
    const iv = rng.chance(0.5) ? rng.range(-64, 64) : rng.u32() | 0;
    this.emit(`mov ${index}, ${hex32(iv)}`);
    if (form === 9) {
      // no base: [index*scale+disp32]
      return `[${index}*${scale}${disp((addr - Math.imul(iv, scale)) | 0)}]`;
    }
    this.emit(`mov ${base}, ${hex32(addr - d - Math.imul(iv, scale))}`);
    return `[${base}+${index}*${scale}${disp(d)}]`;
  }

  /** 16-bit addressing ([bx+si+d] and friends); the upper register halves stay random. */
  private address16(addr: number, keep: readonly string[]): string {
    const rng = this.rng;
    const forms: [string | null, string | null][] = [
      ['bx', 'si'], ['bx', 'di'], ['bp', 'si'], ['bp', 'di'], [null, 'si'], [null, 'di'], ['bx', null], ['bp', null],
    ];
    const taken = keep.map(parent32);
    const usable = forms.filter(([b, i]) => ![b, i].some((r) => r !== null && taken.includes(parent32(r))));
    if (usable.length === 0) return `[${hex32(addr)}]`;
    const [b, i] = rng.pick(usable);
    const d = rng.pick([0, rng.range(-128, 127), rng.int(0x10000)]);
    let rest = (addr - d) & 0xffff;
    const parts: string[] = [];
    if (b && i) {
      const bv = rng.int(0x10000);
      this.emit(`mov ${b}, 0x${bv.toString(16)}`);
      rest = (rest - bv) & 0xffff;
      this.emit(`mov ${i}, 0x${rest.toString(16)}`);
      parts.push(b, i);
    } else {
      const r = (b ?? i) as string;
      this.emit(`mov ${r}, 0x${rest.toString(16)}`);
      parts.push(r);
    }
    // [bp] alone has no encoding without a displacement; NASM adds a zero one.
    return `[${parts.join('+')}${d === 0 ? '' : `+0x${(d & 0xffff).toString(16)}`}]`;
  }
}

/** The 32-bit register that holds `reg` (al, ah, ax → eax). */
export function parent32(reg: string): string {
  for (const size of [8, 16, 32] as const) {
    const i = REGS[size].indexOf(reg);
    if (i >= 0) return REGS[32][size === 8 ? i & 3 : i];
  }
  return reg;
}

function disp(d: number): string {
  const v = d | 0;
  if (v === 0) return '';
  return v < 0 ? `-0x${(-v >>> 0).toString(16)}` : `+0x${v.toString(16)}`;
}
