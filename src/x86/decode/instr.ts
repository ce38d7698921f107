// The decoded form of one x86 instruction. It is the contract between the
// decoder (which fills it), the disassembler (which prints it in NASM syntax)
// and the CPU (which compiles it into something it can execute). It holds
// everything the encoding says and nothing about machine state, so one decode
// can be cached per instruction address.

export type Bits = 16 | 32;

/** General registers by encoding number (also the 16-bit and, for 0-3, the 8-bit low halves). */
export const GPR = { EAX: 0, ECX: 1, EDX: 2, EBX: 3, ESP: 4, EBP: 5, ESI: 6, EDI: 7 } as const;
/** 8-bit register encodings: 0-3 are AL CL DL BL, 4-7 are AH CH DH BH. */
export const GPR8 = { AL: 0, CL: 1, DL: 2, BL: 3, AH: 4, CH: 5, DH: 6, BH: 7 } as const;
/** Segment registers by encoding number. */
export const SEG = { ES: 0, CS: 1, SS: 2, DS: 3, FS: 4, GS: 5 } as const;

/** Operand sizes in bytes. 0 means "no size" (lea's source, an untyped memory reference). */
export type OpSize = 0 | 1 | 2 | 4 | 6 | 8 | 10;

/** A general register. size 1 uses the 8-bit numbering (4-7 = AH CH DH BH). */
export interface RegOperand { kind: 'reg'; reg: number; size: 1 | 2 | 4 }
/** A segment register (ES CS SS DS FS GS = 0..5). */
export interface SegRegOperand { kind: 'sreg'; reg: number; size: 2 }
/** A control register CRn. */
export interface CtrlRegOperand { kind: 'creg'; reg: number; size: 4 }
/** A debug register DRn. */
export interface DebugRegOperand { kind: 'dreg'; reg: number; size: 4 }

/**
 * A memory operand. In 16-bit addressing, base/index name the 16-bit
 * registers by the same numbers ([bx+si] is base 3, index 6; [bp] is base 5).
 * `seg` is the effective segment: the override if there is one, otherwise
 * SS for EBP/ESP/BP-based forms and DS for the rest.
 */
export interface MemOperand {
  kind: 'mem';
  size: OpSize;
  seg: number;
  segOverride: boolean;
  base: number; // -1: none
  index: number; // -1: none
  scale: 1 | 2 | 4 | 8;
  disp: number; // signed displacement as encoded (sign-extended)
  dispSize: 0 | 1 | 2 | 4;
  addrSize: Bits;
  /** Set when the address was encoded with a SIB byte (ndisasm prints [0x10] vs [dword 0x10]). */
  sib?: boolean;
}

/**
 * An immediate. `value` is the operand-size value, unsigned (a sign-extended
 * imm8 in a 32-bit operation holds 0xFFFFFFFF for -1). `encSize` is the number
 * of bytes in the encoding; it is smaller than `size` for sign-extended imm8
 * forms and 0 for implicit constants such as the 1 of `shl eax, 1` (D1 /4).
 */
export interface ImmOperand { kind: 'imm'; size: 1 | 2 | 4; value: number; encSize: 0 | 1 | 2 | 4 }

/**
 * A relative branch target. `disp` is the signed displacement; `target` is
 * (ip + length + disp) masked to the operand size, where ip is the offset
 * given to the decoder. The CPU uses `disp` (the target depends on EIP).
 */
export interface RelOperand { kind: 'rel'; size: 1 | 2 | 4; disp: number; target: number }

/** A direct far pointer (ptr16:16 or ptr16:32) of jmp far / call far. */
export interface FarOperand { kind: 'far'; selector: number; offset: number; size: 4 | 6 }

export type Operand =
  | RegOperand | SegRegOperand | CtrlRegOperand | DebugRegOperand
  | MemOperand | ImmOperand | RelOperand | FarOperand;

export const REP_NONE = 0;
/** F3: rep / repe / repz. */
export const REP_E = 1;
/** F2: repne / repnz. */
export const REP_NE = 2;

export interface Instr {
  /**
   * Lower-case NASM mnemonic as ndisasm prints it, without prefixes:
   * 'add', 'jz', 'cmovnz', 'movsd', 'iretd', 'pushad', 'vmcall'…
   * Invalid encodings use 'db' (see `invalid`).
   */
  mnemonic: string;
  /** Condition code 0-15 (O NO B NB Z NZ BE A S NS P NP L NL LE G) for jcc/setcc/cmovcc, else -1. */
  cc: number;
  operands: Operand[];
  /** Total length in bytes, prefixes included. */
  length: number;
  /** Operand size after the 66 prefix (and the mode default). */
  opSize: Bits;
  /** Address size after the 67 prefix (and the mode default). */
  addrSize: Bits;
  rep: 0 | 1 | 2;
  lock: boolean;
  /** Segment override prefix (0-5), or -1. */
  segOverride: number;
  /** Primary opcode: 0x00-0xFF, 0x0F00-0x0FFF for two-byte, 0x0F3800-0x0F3AFF for three-byte. */
  opcode: number;
  /** ModRM.reg (the /digit of group opcodes), or -1 when there is no ModRM byte. */
  ext: number;
  /**
   * Set when the bytes are not a supported instruction: the CPU raises #UD.
   * `truncated` is set instead when the buffer ended before the instruction
   * did (the CPU then faults on the fetch of the missing byte).
   */
  invalid?: string;
  truncated?: boolean;
  /**
   * Set when a LOCK prefix is present on an instruction (or operand form)
   * that does not accept it. The instruction still decodes normally so it
   * can be shown; the CPU raises #UD.
   */
  lockInvalid?: boolean;
  /** The mode the instruction was decoded in (the disassembler needs it for prefixes). */
  mode?: Bits;
  /**
   * Set on encodings the CPU executes exactly like a documented twin but
   * that assemblers do not emit (see AliasKind). The other fields describe
   * the bytes as they are (opcode 0x82, ext 1 or 6...); the mnemonic is the
   * twin's (sal for the shift alias).
   */
  alias?: AliasKind;
}

/**
 * Undocumented-but-valid encodings:
 *  - 'alu-82':    82 /r, the same as 80 /r (16/32-bit modes only);
 *  - 'test-1':    F6 /1 and F7 /1, the same as test /0;
 *  - 'sal-6':     C0 C1 D0-D3 /6, the same as shl /4 (printed as sal);
 *  - 'setcc-reg': 0F 90-9F with ModRM.reg other than 0 (reg is ignored);
 *  - 'crdr-mod':  mov to/from CRn/DRn with mod other than 3: the ModRM names
 *                 a register anyway and no displacement or SIB follows.
 */
export type AliasKind = 'alu-82' | 'test-1' | 'sal-6' | 'setcc-reg' | 'crdr-mod';
