// The bit layout of a VMCS field encoding (SDM Vol. 3, Appendix B; vmx-facts §2).
// Width, type and index are properties of the encoding itself, so they are
// computed here rather than trusted from any table.

/** Field width as the SDM names it; `natural` is 32 bits on this IA-32 machine. */
export type FieldWidth = 16 | 32 | 64 | 'natural';

/** Field type, encoding bits 11:10. */
export type FieldType = 'control' | 'exit-information' | 'guest-state' | 'host-state';

const WIDTHS: readonly FieldWidth[] = [16, 64, 32, 'natural'];
const TYPES: readonly FieldType[] = ['control', 'exit-information', 'guest-state', 'host-state'];

export interface DecodedEncoding {
  /** Bit 0: 1 = the "high" access to bits 63:32 of a 64-bit field. */
  high: boolean;
  /** Bits 9:1. */
  index: number;
  /** Bits 11:10. */
  type: FieldType;
  /** Bits 14:13. */
  width: FieldWidth;
  /** Bit 12 and bits 31:15 are reserved and must be zero in a valid encoding. */
  reservedBitsClear: boolean;
}

export function decodeEncoding(encoding: number): DecodedEncoding {
  const e = encoding >>> 0;
  return {
    high: (e & 1) === 1,
    index: (e >>> 1) & 0x1ff,
    type: TYPES[(e >>> 10) & 3],
    width: WIDTHS[(e >>> 13) & 3],
    reservedBitsClear: (e & 0xffff9000) === 0,
  };
}

/** Builds an encoding from its parts (the inverse of decodeEncoding for valid encodings). */
export function makeEncoding(width: FieldWidth, type: FieldType, index: number, high = false): number {
  return (WIDTHS.indexOf(width) << 13) | (TYPES.indexOf(type) << 10) | ((index & 0x1ff) << 1) | (high ? 1 : 0);
}

/** Bits a field of this width holds (natural width is 32 on an IA-32 processor). */
export function widthBits(width: FieldWidth): number {
  return width === 'natural' ? 32 : width;
}

/** Text as the tables show it: "16", "32", "64", "natural". */
export function widthText(width: FieldWidth): string {
  return String(width);
}

export function hexEncoding(encoding: number): string {
  return '0x' + (encoding >>> 0).toString(16).toUpperCase().padStart(4, '0');
}
