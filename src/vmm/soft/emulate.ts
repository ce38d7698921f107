// Emulation of the privileged and sensitive instructions of a guest kernel
// against its virtual CPU: what the VMM does when such an instruction traps
// (trap-and-emulate) or reaches a translated callout (binary translation).
// The instruction has not run; on 'done' the VMM has carried it out and
// moved EIP past it.

import { CS, SS, type Cpu } from '../../x86/cpu/cpu';
import { CpuFault } from '../../x86/cpu/fault';
import type { Instr, MemOperand } from '../../x86/decode/instr';
import { ea, reader, writer } from '../../x86/cpu/operands';
import type { IoBus } from '../../x86/devices/iobus';
import { virtualFlags, EFLAGS_IF, EFLAGS_IOPL, type VirtualCpuState } from './vcpu-state';
import type { GuestFault, GuestMemory } from './guest-memory';

/**
 * Where a #PF of the emulation happened: on the guest's own tables (the guest gets it, CR2 =
 * `address`), or on the processor's, i.e. a shadow entry the VMM has not filled yet (the VMM
 * fills it and emulates again, as the processor would have re-executed the instruction).
 */
export interface PageFaultAt {
  address: number;
  shadow: boolean;
}

export type EmulateResult =
  | { kind: 'done' }
  /** Not something the virtual kernel may do either: the guest gets this exception. */
  | { kind: 'exception'; vector: number; errorCode: number; fault?: PageFaultAt }
  /** Beyond what the VMM emulates: the VM stops with this message. */
  | { kind: 'unsupported'; message: string };

export interface EmulationHost {
  cpu: Cpu;
  v: VirtualCpuState;
  guest: GuestMemory;
  bus: IoBus;
  ring: number;
  /** The guest changed CR0 paging bits, CR3 or CR4: the shadow is rebuilt. */
  pagingChanged(): void;
  invlpg(linear: number): void;
  /** The guest loaded GDTR: the real GDT is rebuilt from it. Returns a message when that fails. */
  gdtChanged(): string | null;
  /** Virtual interrupts were enabled: the VMM looks for a pending one. */
  interruptsEnabled(): void;
  halt(): void;
  /** Hands an emulated IRET's return to user mode or kernel to the VMM (it switches rings). */
  iret(eip: number, cs: number, flags: number, esp: number | null, ss: number | null): EmulateResult;
}

const DONE: EmulateResult = { kind: 'done' };
const GP0: EmulateResult = { kind: 'exception', vector: 13, errorCode: 0 };

function linear(c: Cpu, m: MemOperand): number {
  return (c.seg[m.seg].base + ea(m)(c)) >>> 0;
}

/** Emulates `ins` (at cpu.eip, `len` bytes) for the virtual kernel. Memory faults come back as guest exceptions. */
export function emulate(h: EmulationHost, ins: Instr, len: number): EmulateResult {
  const { cpu: c, v } = h;
  const next = (c.eip + len) >>> 0;
  const advance = (): EmulateResult => { c.eip = next; return DONE; };
  try {
    switch (ins.mnemonic) {
      case 'cli': v.interrupts = false; return advance();
      case 'sti':
        if (!v.interrupts) v.stiShadowUntil = c.icount + 1;
        v.interrupts = true;
        advance();
        h.interruptsEnabled();
        return DONE;
      case 'hlt': advance(); h.halt(); return DONE;
      case 'clts': v.cr0 = (v.cr0 & ~8) >>> 0; return advance();
      case 'invd': case 'wbinvd': return advance();
      case 'lmsw': {
        const val = reader(ins.operands[0], 2)(c);
        v.cr0 = ((v.cr0 & ~0xe) | (val & 0xf) | (v.cr0 & 1)) >>> 0;
        h.pagingChanged();
        return advance();
      }
      case 'smsw': writer(ins.operands[0], ins.operands[0].kind === 'mem' ? 2 : ins.operands[0].size as 2 | 4)(c, v.cr0 & 0xffff); return advance();
      case 'in': case 'out': return io(h, ins, advance);
      case 'lgdt': case 'lidt': {
        const m = ins.operands[0] as MemOperand;
        const b = h.guest.read(linear(c, m), 6);
        if (!(b instanceof Uint8Array)) return guestFault(b);
        const limit = b[0] | (b[1] << 8);
        let base = (b[2] | (b[3] << 8) | (b[4] << 16) | (b[5] << 24)) >>> 0;
        if (ins.opSize === 16) base &= 0xffffff;
        if (ins.mnemonic === 'lidt') { v.idtr = { base, limit }; return advance(); }
        v.gdtr = { base, limit };
        const problem = h.gdtChanged();
        if (problem !== null) return { kind: 'unsupported', message: problem };
        return advance();
      }
      case 'sgdt': case 'sidt': {
        const t = ins.mnemonic === 'sgdt' ? v.gdtr : v.idtr;
        const m = ins.operands[0] as MemOperand;
        const f = h.guest.write(linear(c, m), [t.limit & 0xff, t.limit >>> 8, t.base & 0xff, (t.base >>> 8) & 0xff, (t.base >>> 16) & 0xff, t.base >>> 24]);
        if (f !== null) return guestFault(f);
        return advance();
      }
      case 'sldt': case 'str': {
        const op = ins.operands[0];
        writer(op, op.kind === 'mem' ? 2 : op.size as 2 | 4)(c, ins.mnemonic === 'str' ? v.tr.selector : v.ldtr);
        return advance();
      }
      case 'lldt': {
        const sel = reader(ins.operands[0], 2)(c);
        if ((sel & 0xfffc) !== 0) return { kind: 'unsupported', message: `LLDT 0x${sel.toString(16)}: local descriptor tables are not emulated by the software VMM` };
        v.ldtr = 0;
        return advance();
      }
      case 'ltr': return ltr(h, reader(ins.operands[0], 2)(c), advance);
      case 'invlpg': h.invlpg(linear(c, ins.operands[0] as MemOperand)); return advance();
      case 'mov': return mov(h, ins, advance);
      case 'pop': {
        // POP SS: the kernel's SS selector has RPL 0; the real one must have RPL = CPL.
        const op = ins.operands[0];
        if (op.kind !== 'sreg' || op.reg !== SS) return GP0;
        const sel = c.peek(0, ins.opSize === 16 ? 2 : 4) & 0xffff;
        c.loadSeg(SS, (sel & 0xfffc) | (sel & 0xfffc ? h.ring : 0));
        c.sp = c.sp + (ins.opSize === 16 ? 2 : 4);
        return advance();
      }
      case 'pushf': case 'pushfd': case 'pushfw':
        c.push(virtualFlags(c.getFlags(), v) & 0xfcffff, ins.opSize === 16 ? 2 : 4);
        return advance();
      case 'popf': case 'popfd': case 'popfw': {
        const size = ins.opSize === 16 ? 2 : 4;
        const val = c.pop(size);
        applyFlags(c, v, val, size);
        advance();
        if (v.interrupts) h.interruptsEnabled();
        return DONE;
      }
      case 'push': {
        const op = ins.operands[0];
        if (op.kind !== 'sreg') return GP0;
        const sel = c.seg[op.reg].selector;
        c.push(op.reg === CS || op.reg === SS ? sel & ~3 : sel, ins.opSize === 16 ? 2 : 4);
        return advance();
      }
      case 'iret': case 'iretd': case 'iretw': {
        if (ins.opSize === 16) return { kind: 'unsupported', message: '16-bit IRET is not emulated by the software VMM' };
        const eip = c.peek(0, 4) >>> 0, cs = c.peek(4, 4) & 0xffff, flags = c.peek(8, 4) >>> 0;
        const outer = (cs & 3) === 3;
        const esp = outer ? c.peek(12, 4) >>> 0 : null, ss = outer ? c.peek(16, 4) & 0xffff : null;
        c.sp = c.sp + (outer ? 20 : 12);
        return h.iret(eip, cs, flags, esp, ss);
      }
      case 'rdmsr': {
        try {
          const val = c.msrs.read(c.r[1] >>> 0);
          if (val === undefined) return GP0;
          c.r[0] = Number(val & 0xffffffffn) | 0;
          c.r[2] = Number((val >> 32n) & 0xffffffffn) | 0;
        } catch {
          return GP0;
        }
        return advance();
      }
      case 'wrmsr': {
        try {
          if (!c.msrs.write(c.r[1] >>> 0, (BigInt(c.r[2] >>> 0) << 32n) | BigInt(c.r[0] >>> 0))) return GP0;
        } catch {
          return GP0;
        }
        return advance();
      }
      default:
        return { kind: 'unsupported', message: `${ins.mnemonic} in the guest kernel is not emulated by the software VMM` };
    }
  } catch (e) {
    if (!(e instanceof CpuFault)) throw e;
    if (e.vector !== 14 || c.pendingFaultAddress < 0) return { kind: 'exception', vector: e.vector, errorCode: e.code };
    const address = c.pendingFaultAddress >>> 0;
    c.pendingFaultAddress = -1;
    return { kind: 'exception', vector: 14, errorCode: e.code, fault: { address, shadow: true } };
  }
}

const guestFault = (f: GuestFault): EmulateResult => ({ kind: 'exception', vector: 14, errorCode: f.errorCode, fault: { address: f.address >>> 0, shadow: false } });

/** POPF/IRET for the virtual kernel: arithmetic flags for real, IF and IOPL into the virtual CPU. */
export function applyFlags(c: Cpu, v: VirtualCpuState, val: number, size: 2 | 4): void {
  const keepMask = size === 2 ? 0xffff0000 : 0x00030000 /* VM, RF stay */;
  const real = c.getFlags();
  const next = ((real & keepMask) | (val & ~keepMask & ~(EFLAGS_IF | EFLAGS_IOPL)) | (real & (EFLAGS_IF | EFLAGS_IOPL)) | 2) >>> 0;
  c.setFlagsRaw(next);
  if (v.cpl === 0) {
    v.interrupts = (val & EFLAGS_IF) !== 0;
    v.iopl = (val >>> 12) & 3;
  } else if (v.cpl <= v.iopl) v.interrupts = (val & EFLAGS_IF) !== 0;
}

function io(h: EmulationHost, ins: Instr, advance: () => EmulateResult): EmulateResult {
  const c = h.cpu;
  const [a, b] = ins.operands;
  if (ins.mnemonic === 'in') {
    const size = a.size as 1 | 2 | 4;
    const port = b.kind === 'imm' ? b.value : c.r16[4];
    const val = h.bus.in(port, size);
    writer(a)(c, val);
  } else {
    const size = b.size as 1 | 2 | 4;
    const port = a.kind === 'imm' ? a.value : c.r16[4];
    h.bus.out(port, size, reader(b)(c));
  }
  return advance();
}

function mov(h: EmulationHost, ins: Instr, advance: () => EmulateResult): EmulateResult {
  const { cpu: c, v } = h;
  const [dst, src] = ins.operands;
  if (dst.kind === 'creg' && src.kind === 'reg') {
    const val = c.r[src.reg] >>> 0;
    switch (dst.reg) {
      case 0: {
        const old = v.cr0;
        v.cr0 = (val | 0x10) >>> 0;
        if (((old ^ v.cr0) & 0x80010001) !== 0) h.pagingChanged();
        break;
      }
      case 2: v.cr2 = val; break;
      case 3: v.cr3 = val; h.pagingChanged(); break;
      case 4: v.cr4 = val; h.pagingChanged(); break;
      default: return { kind: 'exception', vector: 6, errorCode: -1 };
    }
    return advance();
  }
  if (src.kind === 'creg' && dst.kind === 'reg') {
    const val = [v.cr0, 0, v.cr2, v.cr3, v.cr4][src.reg];
    if (val === undefined || src.reg === 1) return { kind: 'exception', vector: 6, errorCode: -1 };
    c.r[dst.reg] = val | 0;
    return advance();
  }
  if (dst.kind === 'dreg' || src.kind === 'dreg') {
    // Debug registers are the VMM's: the guest's values are kept but never armed.
    if (dst.kind === 'dreg' && src.kind === 'reg') h.v.dr[dst.reg] = c.r[src.reg] >>> 0;
    else if (src.kind === 'dreg' && dst.kind === 'reg') c.r[dst.reg] = h.v.dr[src.reg] | 0;
    return advance();
  }
  if (dst.kind === 'sreg' && dst.reg === SS) {
    const sel = reader(src, 2)(c);
    c.loadSeg(SS, (sel & 0xfffc) === 0 ? sel : (sel & 0xfffc) | h.ring);
    return advance();
  }
  if (src.kind === 'sreg' && (src.reg === CS || src.reg === SS)) {
    writer(dst, dst.kind === 'mem' ? 2 : dst.size as 2 | 4)(c, c.seg[src.reg].selector & ~3);
    return advance();
  }
  return GP0;
}

function ltr(h: EmulationHost, sel: number, advance: () => EmulateResult): EmulateResult {
  const { v, guest } = h;
  if ((sel & 0xfffc) === 0 || (sel & 4) !== 0 || (sel | 7) > v.gdtr.limit) return { kind: 'exception', vector: 13, errorCode: sel & 0xfffc };
  const at = (v.gdtr.base + (sel & 0xfff8)) >>> 0;
  const lo = guest.read32(at), hi = guest.read32(at + 4);
  if (typeof lo !== 'number') return guestFault(lo);
  if (typeof hi !== 'number') return guestFault(hi);
  const type = (hi >>> 8) & 0x1f;
  if (type !== 0x09) return { kind: 'exception', vector: 13, errorCode: sel & 0xfffc };
  if ((hi & 0x8000) === 0) return { kind: 'exception', vector: 11, errorCode: sel & 0xfffc };
  // Busy, in the guest's own table, as its processor would mark it.
  guest.write32(at + 4, (hi | 0x200) >>> 0);
  const base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0;
  let limit = (lo & 0xffff) | (hi & 0xf0000);
  if ((hi & 0x800000) !== 0) limit = ((limit << 12) | 0xfff) >>> 0;
  v.tr = { selector: sel, base, limit };
  return advance();
}
