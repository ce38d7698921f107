// Number formatting and parsing shared by the views: hexadecimal by default
// with the width of the register or field (8 digits for 32 bits, 16 for 64),
// decimal when the user toggles it.
import type { FormatOptions, VarNode } from './node';

export const HEX: FormatOptions = { hex: true };

/** A value of `bits` bits (number or bigint) as the view shows it. */
export function fmtNum(value: number | bigint, bits: number, fmt: FormatOptions): string {
  const v = typeof value === 'bigint' ? BigInt.asUintN(bits, value) : bits >= 32 ? value >>> 0 : value & ((1 << bits) - 1);
  if (!fmt.hex) return v.toString(10);
  const digits = Math.max(1, Math.ceil(bits / 4));
  return `0x${v.toString(16).toUpperCase().padStart(digits, '0')}`;
}

/** Addresses and other unsized numbers: hex without padding, or decimal. */
export function fmtAddr(value: number, fmt: FormatOptions): string {
  return fmt.hex ? `0x${(value >>> 0).toString(16).toUpperCase()}` : String(value >>> 0);
}

/** Counts stay decimal in both modes. */
export function fmtCount(n: number): string {
  return String(n);
}

/** Always hex, for names and messages (encodings, addresses in text). */
export function hex(n: number, digits = 0): string {
  return `0x${(n >>> 0).toString(16).toUpperCase().padStart(digits, '0')}`;
}

/**
 * Parses what a user types as a value: decimal, 0x hex, trailing h hex
 * (NASM style), 0b binary, with an optional minus sign. Throws on anything else.
 */
export function parseNumber(text: string): bigint {
  const t = text.trim().replace(/_/g, '');
  const m = /^(-)?(?:0x([0-9a-f]+)|([0-9][0-9a-f]*)h|0b([01]+)|([0-9]+))$/i.exec(t);
  if (m === null) throw new Error(`'${text.trim()}' is not a number (use decimal, 0x1F, 1Fh or 0b101)`);
  const digits = m[2] ?? m[3] ?? m[4] ?? m[5];
  const radix = m[2] !== undefined || m[3] !== undefined ? '0x' : m[4] !== undefined ? '0b' : '';
  const v = BigInt(`${radix}${digits}`);
  return m[1] === '-' ? -v : v;
}

/** parseNumber limited to an unsigned `bits`-bit value (negative numbers wrap, as a register write does). */
export function parseSized(text: string, bits: number): number {
  const v = parseNumber(text);
  const limit = 1n << BigInt(bits);
  if (v >= limit || v < -limit) throw new Error(`${text.trim()} does not fit in ${bits} bits`);
  return Number(BigInt.asUintN(bits, v));
}

/** parseNumber for a 64-bit value. */
export function parse64(text: string): bigint {
  const v = parseNumber(text);
  if (v >= 1n << 64n || v < -(1n << 63n)) throw new Error(`${text.trim()} does not fit in 64 bits`);
  return BigInt.asUintN(64, v);
}

/** A leaf node that cannot be edited. */
export function leaf(name: string, value: string, extra: Partial<VarNode> = {}): VarNode {
  return { name, value, hint: { kind: 'property', attributes: ['readOnly'] }, ...extra };
}

/** A node that only groups children. */
export function group(name: string, value: string, children: () => VarNode[], extra: Partial<VarNode> = {}): VarNode {
  return { name, value, children, hint: { kind: 'virtual', attributes: ['readOnly'] }, ...extra };
}

export function yesNo(b: boolean): string {
  return b ? '1' : '0';
}

/** A vector list, e.g. "0x20, 0x31" or "none". */
export function vectorList(vectors: readonly number[], fmt: FormatOptions): string {
  return vectors.length === 0 ? 'none' : vectors.map((v) => fmtNum(v, 8, fmt)).join(', ');
}

/** A DAP memory reference the session resolves: "gva:0x1000", "gpa:0x2000", "hpa:0x1f400000". */
export function memRef(space: 'gva' | 'gpa' | 'hpa', address: number): string {
  return `${space}:0x${(address >>> 0).toString(16)}`;
}
