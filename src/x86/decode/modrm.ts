// ModRM / SIB addressing: turns the r/m part of an instruction into a
// MemOperand. The byte reader is passed in so truncation is handled in one
// place (the reader throws and decode() turns that into `truncated`).

import { Bits, MemOperand, OpSize, SEG } from './instr';

export interface ByteReader {
  u8(): number;
  i8(): number;
  u16(): number;
  i16(): number;
  i32(): number;
}

// 16-bit r/m: base, index (register numbers as in the 32-bit file; BX=3 BP=5 SI=6 DI=7).
const RM16: readonly (readonly [number, number])[] = [
  [3, 6], [3, 7], [5, 6], [5, 7], [6, -1], [7, -1], [5, -1], [3, -1],
];

/**
 * Decode the memory form of `modrm` (mod != 3). `seg` is the override or -1.
 */
export function decodeMem(r: ByteReader, modrm: number, addrSize: Bits, seg: number, size: OpSize): MemOperand {
  const mod = modrm >> 6;
  const rm = modrm & 7;
  let base = -1;
  let index = -1;
  let scale: 1 | 2 | 4 | 8 = 1;
  let disp = 0;
  let dispSize: 0 | 1 | 2 | 4 = 0;
  let sib = false;
  if (addrSize === 16) {
    if (mod === 0 && rm === 6) {
      disp = r.i16();
      dispSize = 2;
    } else {
      [base, index] = RM16[rm];
      if (mod === 1) { disp = r.i8(); dispSize = 1; } else if (mod === 2) { disp = r.i16(); dispSize = 2; }
    }
  } else {
    if (rm === 4) {
      const sibByte = r.u8();
      sib = true;
      scale = (1 << (sibByte >> 6)) as 1 | 2 | 4 | 8;
      const idx = (sibByte >> 3) & 7;
      index = idx === 4 ? -1 : idx;
      const b = sibByte & 7;
      if (b === 5 && mod === 0) {
        disp = r.i32();
        dispSize = 4;
      } else {
        base = b;
      }
    } else if (mod === 0 && rm === 5) {
      disp = r.i32();
      dispSize = 4;
    } else {
      base = rm;
    }
    if (mod === 1) { disp = r.i8(); dispSize = 1; } else if (mod === 2) { disp = r.i32(); dispSize = 4; }
  }
  const ssBased = base === 4 || base === 5; // ESP/EBP (BP in 16-bit forms uses 5 too)
  const m: MemOperand = {
    kind: 'mem',
    size,
    seg: seg >= 0 ? seg : ssBased ? SEG.SS : SEG.DS,
    segOverride: seg >= 0,
    base,
    index,
    scale,
    disp,
    dispSize,
    addrSize,
  };
  if (sib) m.sib = true;
  return m;
}
