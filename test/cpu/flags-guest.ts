// Replays golden cases on the emulated CPU: one flat 32-bit guest per form
// walks a table of cases, each record holding the inputs and, after the
// instruction under test, the outputs.
import { Machine } from '../../src/x86/machine';
import type { GoldenForm, Regs } from './flags-golden';

const ORG = 0x10000;
const TABLE = 0x11000;
const RECORD = 40; // 5 input dwords, 5 output dwords

function dword(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** The loop around the instruction under test, hand-encoded. */
function loopCode(insn: Uint8Array, count: number): number[] {
  const head = [
    0xbe, ...dword(TABLE), //      mov esi, TABLE
    0xbd, ...dword(count), //      mov ebp, count
  ];
  const body = [
    0x8b, 0x06, //                 mov eax, [esi]
    0x8b, 0x5e, 0x04, //           mov ebx, [esi+4]
    0x8b, 0x4e, 0x08, //           mov ecx, [esi+8]
    0x8b, 0x56, 0x0c, //           mov edx, [esi+12]
    0xff, 0x76, 0x10, //           push dword [esi+16]
    0x9d, //                       popfd
    ...insn,
    0x9c, //                       pushfd
    0x89, 0x46, 0x14, //           mov [esi+20], eax
    0x89, 0x5e, 0x18, //           mov [esi+24], ebx
    0x89, 0x4e, 0x1c, //           mov [esi+28], ecx
    0x89, 0x56, 0x20, //           mov [esi+32], edx
    0x8f, 0x46, 0x24, //           pop dword [esi+36]
    0x83, 0xc6, RECORD, //         add esi, RECORD
    0x4d, //                       dec ebp
  ];
  const back = -(body.length + 6);
  return [...head, ...body, 0x0f, 0x85, ...dword(back), 0xf4]; // jnz loop; hlt
}

/** The same loop as 16-bit real-mode code: DS:SI walks the table at REAL_TABLE. */
const REAL_TABLE = 0x20000;
function realLoopCode(insn: Uint8Array, count: number): number[] {
  const head = [
    0xb8, 0x00, REAL_TABLE >>> 12, //   mov ax, REAL_TABLE >> 4
    0x8e, 0xd8, //                      mov ds, ax
    0x31, 0xf6, //                      xor si, si
    0xbd, count & 0xff, count >>> 8, // mov bp, count
  ];
  const body = [
    0x66, 0x8b, 0x04, //               mov eax, [si]
    0x66, 0x8b, 0x5c, 0x04, //         mov ebx, [si+4]
    0x66, 0x8b, 0x4c, 0x08, //         mov ecx, [si+8]
    0x66, 0x8b, 0x54, 0x0c, //         mov edx, [si+12]
    0x66, 0xff, 0x74, 0x10, //         push dword [si+16]
    0x66, 0x9d, //                     popfd
    ...insn,
    0x66, 0x9c, //                     pushfd
    0x66, 0x89, 0x44, 0x14, //         mov [si+20], eax
    0x66, 0x89, 0x5c, 0x18, //         mov [si+24], ebx
    0x66, 0x89, 0x4c, 0x1c, //         mov [si+28], ecx
    0x66, 0x89, 0x54, 0x20, //         mov [si+32], edx
    0x66, 0x8f, 0x44, 0x24, //         pop dword [si+36]
    0x83, 0xc6, RECORD, //             add si, RECORD
    0x4d, //                           dec bp
  ];
  const back = (-(body.length + 4)) & 0xffff;
  return [...head, ...body, 0x0f, 0x85, back & 0xff, back >>> 8, 0xf4]; // jnz loop; hlt
}

/**
 * The instruction re-encoded for a 16-bit code segment: the operand-size
 * prefix flips meaning, so a 32-bit form gains 0x66 and a 16-bit one loses it.
 * Byte forms need no prefix in either mode. (All forms use register
 * operands, so the address size does not matter.)
 */
export function realModeBytes(form: GoldenForm): Uint8Array {
  const b = Array.from(form.bytes);
  if (form.size === 8) return form.bytes;
  if (b[0] === 0x66) return Uint8Array.from(b.slice(1));
  return Uint8Array.from([0x66, ...b]);
}

export interface Replay { outputs: Regs[]; stop: string }

// One machine for all replays: building one costs more than a whole replay,
// and loadFlat32/loadBootSector start from a full reset anyway.
let shared: Machine | undefined;
// 8 MiB: the memory-operand forms use 0x500000.
const machine = (): Machine => (shared ??= new Machine({ memorySize: 8 << 20 }));

/** Runs the cases of one form, in flat 32-bit protected mode or in real mode. */
export function replay(form: GoldenForm, mode: 'flat32' | 'real' = 'flat32', cases = form.cases): Replay {
  const n = cases.length;
  const real = mode === 'real';
  if (real && n * RECORD > 0x10000) throw new Error('too many cases for one real-mode segment');
  const code = real ? realLoopCode(realModeBytes(form), n) : loopCode(form.bytes, n);
  const table = new Uint8Array(n * RECORD);
  const view = new DataView(table.buffer);
  cases.forEach((c, i) => {
    // IF stays clear so nothing can interrupt; bit 1 is the reserved one.
    const regs = [c.input[0], c.input[1], c.input[2], c.input[3], (c.input[4] & 0x8d5) | 0x2];
    regs.forEach((v, k) => view.setUint32(i * RECORD + k * 4, v >>> 0, true));
  });
  const m = machine();
  const tableAt = real ? REAL_TABLE : TABLE;
  if (real) {
    m.loadBootSector(Uint8Array.from(code));
    m.memory.load(REAL_TABLE, table);
  } else {
    const image = new Uint8Array(TABLE - ORG + table.length);
    image.set(code, 0);
    image.set(table, TABLE - ORG);
    m.loadFlat32(image, ORG);
  }
  const stop = m.run(n * 40 + 100);
  const outputs: Regs[] = [];
  for (let i = 0; i < n; i++) {
    const at = tableAt + i * RECORD + 20;
    outputs.push([0, 1, 2, 3, 4].map((k) => m.memory.read32(at + k * 4) >>> 0) as Regs);
  }
  return { outputs, stop: `${stop.reason}: ${stop.message} at eip=${stop.eip.toString(16)}` };
}
