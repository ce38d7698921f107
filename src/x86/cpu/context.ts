// What an instruction compiler gets and returns.

import type { Instr } from '../decode/instr';
import type { Fn } from './operands';

export interface Ctx {
  ins: Instr;
  /** Offset of the instruction in CS. */
  eip: number;
  /** Offset of the next instruction (wrapped to 16 bits in 16-bit code). */
  next: number;
  len: number;
  /** Operand size in bytes (2 or 4). */
  osz: 2 | 4;
}

/**
 * A compiled instruction. `ends` marks instructions after which the block
 * stops; those always set `cpu.eip` themselves (taken or not).
 */
export interface Compiled { fn: Fn; ends: boolean }

export const normal = (fn: Fn): Compiled => ({ fn, ends: false });
export const ender = (fn: Fn): Compiled => ({ fn, ends: true });
