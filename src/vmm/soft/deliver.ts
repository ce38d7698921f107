// Reflecting an event into the guest in software: the VMM owns the real
// IDT, so an exception, interrupt or INT n the guest should see is delivered
// by the VMM through the guest's own IDT (or, paravirtualized, the trap
// table the kernel registered), with the stack switch the guest's TSS (or
// STACK_SWITCH) asks for and the frame the guest's hardware would push.

import { CS, SS, type Cpu } from '../../x86/cpu/cpu';
import type { GuestFault, GuestMemory } from './guest-memory';
import { virtualFlags, type VirtualCpuState } from './vcpu-state';

const HAS_ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17]);
const TF = 0x100, NT = 0x4000, RF = 0x10000;

/** Where a vector goes: the handler's code selector (guest's, RPL 0) and offset, and whether events are masked on entry. */
export interface EventTarget {
  selector: number;
  offset: number;
  masksInterrupts: boolean;
}

/** What stops a delivery: a nested exception for the guest (→ #DF rules), or something only the VMM can report. */
export type DeliveryProblem = { kind: 'exception'; vector: number; errorCode: number; cr2?: number } | { kind: 'unsupported'; message: string };

export interface DeliveryHost {
  cpu: Cpu;
  v: VirtualCpuState;
  guest: GuestMemory;
  /** The ring the guest kernel really runs in. */
  ring: number;
  /** Host-physical address of the real GDT. */
  gdtHpa: number;
  /** Kernel stack for a user → kernel transition: the guest TSS's SS0:ESP0, or STACK_SWITCH's. */
  kernelStack(): [number, number] | DeliveryProblem;
  /** The CS value pushed for an interrupted kernel: RPL 0 under trap-and-emulate (the guest's IRET then traps), the real one paravirtualized. */
  pushedKernelCs(real: number): number;
  /**
   * Whether a handler's code segment is one of the guest kernel's: its real
   * (compressed) DPL is the kernel ring; in ring 3, where user segments have
   * that DPL too, the guest's own DPL decides.
   */
  kernelCode(selector: number, realDpl: number): boolean;
}

export function hasErrorCode(vector: number): boolean {
  return HAS_ERROR_CODE.has(vector);
}

/** The IDT gate of `vector` in the guest's IDT, checked as the processor would (SDM 6.12.1). */
export function idtTarget(h: DeliveryHost, vector: number, software: boolean, external: boolean): EventTarget | DeliveryProblem {
  const { v, guest } = h;
  const ext = external ? 1 : 0;
  const idtErr = vector * 8 + 2 + ext;
  if (vector * 8 + 7 > v.idtr.limit) return { kind: 'exception', vector: 13, errorCode: idtErr };
  const lo = guest.read32(v.idtr.base + vector * 8);
  const hi = guest.read32(v.idtr.base + vector * 8 + 4);
  if (typeof lo !== 'number') return pf(lo);
  if (typeof hi !== 'number') return pf(hi);
  const type = (hi >>> 8) & 0x1f;
  if (type === 0x05) return { kind: 'unsupported', message: `vector ${vector} is a task gate; task switches are not emulated by the software VMM` };
  if (type !== 0x0e && type !== 0x0f) return { kind: type === 0x06 || type === 0x07 ? 'unsupported' : 'exception', ...(type === 0x06 || type === 0x07 ? { message: `vector ${vector} is a 16-bit gate, which the software VMM does not deliver` } : { vector: 13, errorCode: idtErr }) } as DeliveryProblem;
  if (software && ((hi >>> 13) & 3) < v.cpl) return { kind: 'exception', vector: 13, errorCode: idtErr };
  if ((hi & 0x8000) === 0) return { kind: 'exception', vector: 11, errorCode: idtErr };
  return { selector: lo >>> 16, offset: ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0, masksInterrupts: type === 0x0e };
}

function pf(r: GuestFault): DeliveryProblem {
  if (r.errorCode < 0) return { kind: 'unsupported', message: `the guest's tables map linear 0x${r.address.toString(16)} outside its RAM` };
  return { kind: 'exception', vector: 14, errorCode: r.errorCode, cr2: r.address };
}

/**
 * Delivers to `target`: pushes the frame (SS, ESP when coming from user
 * mode; EFLAGS with the guest's IF and IOPL; CS; EIP; the error code), then
 * enters the handler in the real kernel ring. `eip` is the return address
 * (the faulting instruction for a fault, the next one for INT n and traps).
 */
export function deliverTo(h: DeliveryHost, target: EventTarget, eip: number, errorCode: number): DeliveryProblem | null {
  const { cpu, v, guest } = h;
  const codeSel = target.selector;
  // The handler's code descriptor, from the real (compressed) GDT the processor uses.
  if ((codeSel & 0xfffc) === 0 || (codeSel & 4) !== 0 || (codeSel | 7) > cpu.gdtr.limit) return { kind: 'exception', vector: 13, errorCode: codeSel & 0xfffc };
  const dlo = cpu.mem.read32(h.gdtHpa + (codeSel & 0xfff8)) >>> 0;
  const dhi = cpu.mem.read32(h.gdtHpa + (codeSel & 0xfff8) + 4) >>> 0;
  if ((dhi & 0x1800) !== 0x1800) return { kind: 'exception', vector: 13, errorCode: codeSel & 0xfffc };
  if (!h.kernelCode(codeSel, (dhi >>> 13) & 3)) return { kind: 'unsupported', message: `the handler's code segment 0x${codeSel.toString(16)} is not a kernel segment (DPL ${(dhi >>> 13) & 3})` };
  if ((dhi & 0x8000) === 0) return { kind: 'exception', vector: 11, errorCode: codeSel & 0xfffc };
  const fromUser = v.cpl === 3;
  const flags = virtualFlags(cpu.getFlags(), v);
  const words: number[] = [];
  let ss = cpu.seg[SS].selector, esp = cpu.r[4] >>> 0, ssBase = cpu.seg[SS].base;
  if (fromUser) {
    const stack = h.kernelStack();
    if (!Array.isArray(stack)) return stack;
    words.push(cpu.seg[SS].selector, cpu.r[4] >>> 0);
    [ss, esp] = stack;
    ss = (ss & 0xfffc) | h.ring;
    ssBase = 0;
  }
  const pushedCs = fromUser ? cpu.seg[CS].selector : h.pushedKernelCs(cpu.seg[CS].selector);
  words.push(flags, pushedCs, eip >>> 0);
  if (errorCode >= 0) words.push(errorCode >>> 0);
  const top = (esp - words.length * 4) >>> 0;
  const bytes: number[] = [];
  for (let i = words.length - 1; i >= 0; i--) { const w = words[i]; bytes.push(w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, (w >>> 24) & 0xff); }
  const wrote = guest.write((ssBase + top) >>> 0, bytes, false);
  if (wrote !== null) return pf(wrote);
  // Now the processor state: kernel ring, the handler's CS, the new stack.
  cpu.setCs((codeSel & 0xfffc) | h.ring, dlo, dhi, h.ring);
  if (fromUser) {
    try {
      cpu.loadSeg(SS, ss);
    } catch {
      return { kind: 'exception', vector: 10, errorCode: ss & 0xfffc };
    }
  }
  cpu.r[4] = top | 0;
  cpu.eip = target.offset;
  cpu.flags &= ~(TF | NT | RF);
  v.cpl = 0;
  if (target.masksInterrupts) v.interrupts = false;
  v.halted = false;
  cpu.exitReq = true;
  cpu.linGen++;
  return null;
}
