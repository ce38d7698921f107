// System instructions: privileged register access, descriptor tables, I/O,
// MSRs, CPUID/RDTSC, HLT, the VMX family (#UD outside VMX operation) and
// the IOPL-sensitive flag instructions. All go through the interception
// hooks first and end their block.

import type { Instr, Operand } from '../decode/instr';
import { CS, DS, ES, FS, GS, SS, type Cpu } from './cpu';
import { EXC, fault, ud } from './fault';
import { IF, LF_NONE, TF, VM, ZF } from './flags';
import type { DescTableOp, VmxOp } from './intercept';
import { ea, reader, writer } from './operands';
import { popf } from './transfers';
import { descAttr, descBase, descLimit } from './segment';
import type { Ctx, Compiled } from './context';
import { ender, normal } from './context';

/** Wraps a system instruction: EIP is advanced unless it faults or a hook handled it. */
function sys(x: Ctx, body: (c: Cpu) => boolean | void): Compiled {
  const next = x.next, self = x.eip;
  return ender((c) => {
    c.eip = self;
    if (body(c) === true) return;
    c.eip = next;
  });
}

const pmOnly = (c: Cpu): void => {
  if ((c.cr0 & 1) === 0 || (c.flags & VM) !== 0) ud();
};

/** Runs the I/O hook and permission checks; true when a hook handled the access. */
export function ioAccess(c: Cpu, ins: Instr, len: number, port: number, size: 1 | 2 | 4, input: boolean, string: boolean, rep: boolean): boolean {
  c.checkIo(port, size);
  const h = c.intercept.io;
  return h !== undefined && h(c, ins, len, { port, size, input, string, rep });
}

export function inOut(x: Ctx): Compiled {
  const ins = x.ins, len = x.len;
  const input = ins.opcode === 0xe4 || ins.opcode === 0xe5 || ins.opcode === 0xec || ins.opcode === 0xed;
  const [a, b] = ins.operands;
  const portOp = input ? b : a;
  const dataOp = input ? a : b;
  const size = dataOp.size as 1 | 2 | 4;
  const port: (c: Cpu) => number = portOp.kind === 'imm' ? ((v) => () => v)(portOp.value & 0xff) : (c) => c.r16[4];
  if (input) {
    const put = writer(dataOp);
    return sys(x, (c) => {
      const p = port(c);
      if (ioAccess(c, ins, len, p, size, true, false, false)) return true;
      put(c, c.io.in(p, size));
    });
  }
  const get = reader(dataOp);
  return sys(x, (c) => {
    const p = port(c);
    if (ioAccess(c, ins, len, p, size, false, false, false)) return true;
    c.io.out(p, size, get(c));
  });
}

export function cliSti(x: Ctx, set: boolean): Compiled {
  const ins = x.ins, len = x.len;
  return sys(x, (c) => {
    const h = set ? c.intercept.sti : c.intercept.cli;
    if (h !== undefined && h(c, ins, len)) return true;
    if (!c.ioplOk()) fault(EXC.GP, 0);
    if (set) {
      if ((c.flags & IF) === 0) { c.shadow = true; c.exitReq = true; }
      c.flags |= IF;
    } else c.flags &= ~IF;
  });
}

export function pushfOp(x: Ctx): Compiled {
  const ins = x.ins, len = x.len, osz = x.osz;
  return sys(x, (c) => {
    const h = c.intercept.pushf;
    if (h !== undefined && h(c, ins, len)) return true;
    if ((c.flags & VM) !== 0 && c.iopl < 3) fault(EXC.GP, 0);
    // VM and RF are never pushed.
    c.push(c.getFlags() & 0xfcffff, osz);
  });
}

export function popfOp(x: Ctx): Compiled {
  const ins = x.ins, len = x.len, osz = x.osz;
  return sys(x, (c) => {
    const h = c.intercept.popf;
    if (h !== undefined && h(c, ins, len)) return true;
    const tf = c.flags & TF;
    popf(c, osz);
    if ((c.flags & TF) !== 0 && tf === 0) c.exitReq = true;
  });
}

export function hlt(x: Ctx): Compiled {
  const ins = x.ins, len = x.len;
  return sys(x, (c) => {
    c.requireCpl0();
    const h = c.intercept.hlt;
    if (h !== undefined && h(c, ins, len)) return true;
    c.halted = true;
    c.exitReq = true;
  });
}

function simpleHook(x: Ctx, name: 'invd' | 'wbinvd' | 'rdpmc' | 'monitor' | 'mwait' | 'pause' | 'xsetbv' | 'rdtscp', body: (c: Cpu) => void): Compiled {
  const ins = x.ins, len = x.len;
  return sys(x, (c) => {
    const h = c.intercept[name];
    if (h !== undefined && h(c, ins, len)) return true;
    body(c);
  });
}

export function cpuid(x: Ctx): Compiled {
  const ins = x.ins, len = x.len;
  return sys(x, (c) => {
    const h = c.intercept.cpuid;
    if (h !== undefined && h(c, ins, len)) return true;
    const [a, b, d, cc] = cpuidLeaf(c.r[0] >>> 0, c.r[1] >>> 0);
    c.r[0] = a; c.r[3] = b; c.r[1] = cc; c.r[2] = d;
  });
}

const str4 = (s: string): number => s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24);

/** CPUID leaves: [eax, ebx, edx, ecx]. A P6-class IA-32 CPU without FPU, VMX reported off. */
export function cpuidLeaf(leaf: number, sub: number): [number, number, number, number] {
  void sub;
  switch (leaf) {
    case 0: return [1, str4('Genu'), str4('ineI'), str4('ntel')];
    case 1: {
      // DE, PSE, TSC, MSR, CX8, PGE, CMOV; family 6 model 15 stepping 1.
      const edx = (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 13) | (1 << 15);
      return [0x6f1, 0x00010000, edx, 0];
    }
    case 0x80000000: return [0x80000000, 0, 0, 0];
    default: return [0, 0, 0, 0];
  }
}

export function rdtsc(x: Ctx): Compiled {
  const ins = x.ins, len = x.len;
  return sys(x, (c) => {
    const h = c.intercept.rdtsc;
    if (h !== undefined && h(c, ins, len)) return true;
    if ((c.cr4 & 4) !== 0 && c.cpl !== 0 && (c.cr0 & 1) !== 0) fault(EXC.GP, 0);
    const t = c.readTsc();
    c.r[0] = Number(t & 0xffffffffn); c.r[2] = Number(t >> 32n);
  });
}

export function msr(x: Ctx, write: boolean): Compiled {
  const ins = x.ins, len = x.len;
  return sys(x, (c) => {
    c.requireCpl0();
    const idx = c.r[1] >>> 0;
    if (write) {
      const v = (BigInt(c.r[2] >>> 0) << 32n) | BigInt(c.r[0] >>> 0);
      const h = c.intercept.wrmsr;
      if (h !== undefined && h(c, ins, len, idx, v)) return true;
      if (idx === 0x10) { c.tscOffset = v - BigInt(c.icount); return; }
      if (!c.msrs.write(idx, v)) fault(EXC.GP, 0);
      return;
    }
    const h = c.intercept.rdmsr;
    if (h !== undefined && h(c, ins, len, idx)) return true;
    const v = idx === 0x10 ? c.readTsc() : c.msrs.read(idx);
    if (v === undefined) fault(EXC.GP, 0);
    c.r[0] = Number(v & 0xffffffffn); c.r[2] = Number(v >> 32n);
  });
}

export function movCr(x: Ctx): Compiled {
  const ins = x.ins, len = x.len;
  const [dst, src] = ins.operands;
  if (dst.kind === 'creg') {
    const cr = dst.reg, reg = (src as { reg: number }).reg;
    return sys(x, (c) => {
      c.requireCpl0();
      const v = c.r[reg] >>> 0;
      const h = c.intercept.movToCr;
      if (h !== undefined && h(c, ins, len, cr, reg, v)) return true;
      writeCr(c, cr, v);
    });
  }
  const cr = (src as { reg: number }).reg, reg = (dst as { reg: number }).reg;
  return sys(x, (c) => {
    c.requireCpl0();
    const h = c.intercept.movFromCr;
    if (h !== undefined && h(c, ins, len, cr, reg)) return true;
    c.r[reg] = readCr(c, cr);
  });
}

export function readCr(c: Cpu, cr: number): number {
  switch (cr) {
    case 0: return c.cr0;
    case 2: return c.cr2;
    case 3: return c.cr3;
    case 4: return c.cr4;
    default: return ud();
  }
}

export function writeCr(c: Cpu, cr: number, v: number): void {
  v >>>= 0;
  switch (cr) {
    case 0:
      if ((v & 0x80000000) !== 0 && (v & 1) === 0) fault(EXC.GP, 0);
      if ((v & 0x20000000) !== 0 && (v & 0x40000000) === 0) fault(EXC.GP, 0);
      c.setCr0(v);
      return;
    case 2: c.cr2 = v; return;
    case 3: c.setCr3(v); return;
    case 4:
      // VME PVI TSD DE PSE PAE(not supported) MCE PGE PCE OSFXSR OSXMMEXCPT VMXE
      if ((v & ~0x21df) !== 0 || (v & 0x20) !== 0) fault(EXC.GP, 0);
      c.setCr4(v);
      return;
    default: ud();
  }
}

export function movDr(x: Ctx): Compiled {
  const ins = x.ins, len = x.len;
  const [dst, src] = ins.operands;
  const write = dst.kind === 'dreg';
  const dr = write ? dst.reg : (src as { reg: number }).reg;
  const reg = write ? (src as { reg: number }).reg : (dst as { reg: number }).reg;
  return sys(x, (c) => {
    c.requireCpl0();
    if ((dr === 4 || dr === 5) && (c.cr4 & 8) !== 0) ud();
    if ((c.dr[7] & 0x2000) !== 0) {
      // DR7.GD: general detect, a #DB fault before any debug-register access. Delivery clears
      // GD and sets DR6.BD; a #DB that causes a VM exit changes neither (SDM 27.1).
      c.pendingDr7 = (c.dr[7] & ~0x2000) >>> 0;
      c.pendingDr6 = ((c.dr[6] & ~0xf) | 0x2000) >>> 0;
      fault(EXC.DB);
    }
    const h = c.intercept.movDr;
    if (h !== undefined && h(c, ins, len, dr, reg, write)) return true;
    const n = dr === 4 ? 6 : dr === 5 ? 7 : dr;
    if (write) {
      let v = c.r[reg] >>> 0;
      if (n === 6) v = (v | 0xffff0ff0) >>> 0;
      if (n === 7) v = ((v | 0x400) & ~0x1000) >>> 0;
      c.dr[n] = v;
      if (n <= 3 || n === 7) c.updateDebug();
    } else c.r[reg] = c.dr[n];
  });
}

function memOf(op: Operand): { e: (c: Cpu) => number; s: number } | null {
  return op.kind === 'mem' ? { e: ea(op), s: op.seg } : null;
}

/** 0F 01 /0-/3 and 0F 00 /0-/5, smsw/lmsw, invlpg. */
export function descTable(x: Ctx): Compiled {
  const ins = x.ins, len = x.len, osz = x.osz;
  const op = ins.operands[0];
  const hookOf = (c: Cpu, name: DescTableOp): boolean => {
    const h = c.intercept.descTable;
    return h !== undefined && h(c, ins, len, name);
  };
  if (ins.opcode === 0x0f01) {
    const m = memOf(op);
    switch (ins.ext) {
      case 0: case 1: {
        if (m === null) return normal(() => ud());
        const name: DescTableOp = ins.ext === 0 ? 'sgdt' : 'sidt';
        return sys(x, (c) => {
          if (hookOf(c, name)) return true;
          const t = ins.ext === 0 ? c.gdtr : c.idtr;
          const off = m.e(c);
          c.rmw(m.s, off, 1); c.rmw(m.s, (off + 5) >>> 0, 1);
          c.wr16(m.s, off, t.limit);
          c.wr32(m.s, (off + 2) >>> 0, osz === 2 ? t.base & 0xffffff : t.base);
        });
      }
      case 2: case 3: {
        if (m === null) return normal(() => ud());
        const name: DescTableOp = ins.ext === 2 ? 'lgdt' : 'lidt';
        return sys(x, (c) => {
          c.requireCpl0();
          if (hookOf(c, name)) return true;
          const off = m.e(c);
          const limit = c.rd16(m.s, off);
          let base = c.rd32(m.s, (off + 2) >>> 0) >>> 0;
          if (osz === 2) base &= 0xffffff;
          if (ins.ext === 2) c.gdtr = { base, limit }; else c.idtr = { base, limit };
        });
      }
      case 4: {
        const put = writer(op, op.kind === 'mem' ? 2 : op.size);
        return sys(x, (c) => {
          const h = c.intercept.smsw;
          if (h !== undefined && h(c, ins, len)) return true;
          put(c, op.kind === 'mem' || op.size === 2 ? c.cr0 & 0xffff : c.cr0);
        });
      }
      case 6: {
        const get = reader(op, 2);
        return sys(x, (c) => {
          c.requireCpl0();
          const v = get(c);
          // LMSW changes PE (set only), MP, EM, TS.
          const nv = ((c.cr0 & ~0xe) | (v & 0xf) | (c.cr0 & 1)) >>> 0;
          const h = c.intercept.movToCr;
          if (h !== undefined && h(c, ins, len, 0, -1, nv)) return true;
          c.setCr0(nv);
        });
      }
      case 7: {
        if (m === null) return normal(() => ud());
        return sys(x, (c) => {
          c.requireCpl0();
          const lin = (c.seg[m.s].base + m.e(c)) >>> 0;
          const h = c.intercept.invlpg;
          if (h !== undefined && h(c, ins, len, lin)) return true;
          c.mmu.invalidatePage(lin);
          c.linGen++;
        });
      }
      default: return normal(() => ud());
    }
  }
  // 0F 00 group.
  switch (ins.ext) {
    case 0: case 1: {
      const name: DescTableOp = ins.ext === 0 ? 'sldt' : 'str';
      const put = writer(op, op.kind === 'mem' ? 2 : op.size);
      return sys(x, (c) => {
        pmOnly(c);
        if (hookOf(c, name)) return true;
        put(c, ins.ext === 0 ? c.ldtr.selector : c.tr.selector);
      });
    }
    case 2: {
      const get = reader(op, 2);
      return sys(x, (c) => {
        pmOnly(c);
        c.requireCpl0();
        if (hookOf(c, 'lldt')) return true;
        const sel = get(c);
        if ((sel & 0xfffc) === 0) { c.ldtr.set(sel, 0, 0, 0x10000); return; }
        if ((sel & 4) !== 0) fault(EXC.GP, sel & 0xfffc);
        const [lo, hi] = c.readDesc(sel);
        const attr = descAttr(hi);
        if ((attr & 0x1f) !== 2) fault(EXC.GP, sel & 0xfffc);
        if ((attr & 0x80) === 0) fault(EXC.NP, sel & 0xfffc);
        c.ldtr.set(sel, descBase(lo, hi), descLimit(lo, hi), attr);
      });
    }
    case 3: {
      const get = reader(op, 2);
      return sys(x, (c) => {
        pmOnly(c);
        c.requireCpl0();
        if (hookOf(c, 'ltr')) return true;
        const sel = get(c);
        if ((sel & 0xfffc) === 0) fault(EXC.GP, 0);
        if ((sel & 4) !== 0) fault(EXC.GP, sel & 0xfffc);
        const [lo, hi, addr] = c.readDesc(sel);
        const attr = descAttr(hi);
        const t = attr & 0x1f;
        if (t !== 1 && t !== 9) fault(EXC.GP, sel & 0xfffc);
        if ((attr & 0x80) === 0) fault(EXC.NP, sel & 0xfffc);
        c.sysW32(addr + 4, hi | 0x200); // busy
        c.tr.set(sel, descBase(lo, hi), descLimit(lo, hi), attr | 2);
      });
    }
    default: {
      const get = reader(op, 2);
      const write = ins.ext === 5;
      return normal((c) => {
        pmOnly(c);
        const ok = accessCheck(c, get(c), write ? 'verw' : 'verr');
        setZf(c, ok !== null);
      });
    }
  }
}

function setZf(c: Cpu, on: boolean): void {
  c.materialize();
  c.flags = on ? c.flags | ZF : c.flags & ~ZF;
  c.lop = LF_NONE;
}

/** Descriptor visibility checks of lar/lsl/verr/verw; the descriptor's high dword or null. */
function accessCheck(c: Cpu, sel: number, kind: 'lar' | 'lsl' | 'verr' | 'verw'): [number, number] | null {
  if ((sel & 0xfffc) === 0) return null;
  const idx = sel & 0xfff8;
  const table = (sel & 4) !== 0 ? c.ldtr : null;
  if (table !== null ? (!table.usable || idx + 7 > table.limit) : idx + 7 > c.gdtr.limit) return null;
  const [lo, hi] = c.readDesc(sel);
  const attr = descAttr(hi);
  const dpl = (attr >> 5) & 3;
  const type = attr & 0xf;
  if ((attr & 0x10) === 0) {
    const okLar = [1, 2, 3, 4, 5, 9, 0xb, 0xc];
    const okLsl = [1, 2, 3, 9, 0xb];
    if (kind === 'verr' || kind === 'verw') return null;
    if (!(kind === 'lar' ? okLar : okLsl).includes(type)) return null;
    if (dpl < c.cpl || dpl < (sel & 3)) return null;
    return [lo, hi];
  }
  const code = (type & 8) !== 0;
  const conforming = code && (type & 4) !== 0;
  if (!conforming && (dpl < c.cpl || dpl < (sel & 3))) return null;
  if (kind === 'verr' && code && (type & 2) === 0) return null;
  if (kind === 'verw' && (code || (type & 2) === 0)) return null;
  return [lo, hi];
}

export function larLsl(x: Ctx, lsl: boolean): Compiled {
  const [dst, src] = x.ins.operands;
  const get = reader(src, 2);
  const put = writer(dst);
  const osz = x.osz;
  return normal((c) => {
    pmOnly(c);
    const d = accessCheck(c, get(c), lsl ? 'lsl' : 'lar');
    setZf(c, d !== null);
    if (d === null) return;
    const v = lsl ? descLimit(d[0], d[1]) : (d[1] & (osz === 4 ? 0x00f0ff00 : 0xff00));
    put(c, v);
  });
}

export function arpl(x: Ctx): Compiled {
  const [dst, src] = x.ins.operands;
  const gs = reader(src, 2);
  const gd = reader(dst, 2), pd = writer(dst, 2);
  return normal((c) => {
    pmOnly(c);
    const d = gd(c), s = gs(c);
    if ((d & 3) < (s & 3)) { pd(c, (d & ~3) | (s & 3)); setZf(c, true); } else setZf(c, false);
  });
}

export function clts(x: Ctx): Compiled {
  const ins = x.ins, len = x.len;
  return sys(x, (c) => {
    c.requireCpl0();
    const h = c.intercept.movToCr;
    if (h !== undefined && h(c, ins, len, 0, -1, (c.cr0 & ~8) >>> 0)) return true;
    c.cr0 = (c.cr0 & ~8) >>> 0;
  });
}

export function privileged(x: Ctx, name: 'invd' | 'wbinvd'): Compiled {
  return simpleHook(x, name, (c) => c.requireCpl0());
}

/** rdpmc: #GP(0) above CPL 0 unless CR4.PCE; counters 0 and 1 exist and read 0. */
export function rdpmc(x: Ctx): Compiled {
  return simpleHook(x, 'rdpmc', (c) => {
    if ((c.cr4 & 0x100) === 0 && c.cpl !== 0 && (c.cr0 & 1) !== 0) fault(EXC.GP, 0);
    if ((c.r[1] >>> 0) > 1) fault(EXC.GP, 0);
    c.r[0] = 0; c.r[2] = 0;
  });
}

/** monitor/mwait/xsetbv/rdtscp: not provided by this CPU model, so #UD unless hooked. */
export function unsupportedHooked(x: Ctx, name: 'monitor' | 'mwait' | 'xsetbv' | 'rdtscp'): Compiled {
  return simpleHook(x, name, () => ud());
}

export function pause(x: Ctx): Compiled {
  return simpleHook(x, 'pause', () => undefined);
}

const VMX_OPS: Record<string, VmxOp> = {
  vmcall: 'vmcall', vmlaunch: 'vmlaunch', vmresume: 'vmresume', vmxoff: 'vmxoff', vmxon: 'vmxon',
  vmclear: 'vmclear', vmptrld: 'vmptrld', vmptrst: 'vmptrst', vmread: 'vmread', vmwrite: 'vmwrite',
  invept: 'invept', invvpid: 'invvpid', vmfunc: 'vmfunc', getsec: 'getsec',
};

export function isVmx(mnemonic: string): boolean {
  return mnemonic in VMX_OPS;
}

/** VMX instructions: #UD (VMX operation is off) unless the VMM layer takes them. */
export function vmx(x: Ctx): Compiled {
  const ins = x.ins, len = x.len;
  const op = VMX_OPS[ins.mnemonic];
  const self = x.eip;
  return ender((c) => {
    c.eip = self;
    const h = c.intercept.vmx;
    if (h !== undefined && h(c, ins, len, op)) return;
    ud();
  });
}

export { CS, DS, ES, FS, GS, SS };
