// Delivery of exceptions and interrupts through the IVT (real mode) or the
// IDT (interrupt and trap gates), with the inter-privilege stack switch
// through the TSS and the double/triple fault rules.

import { CpuFault, EXC, EXC_NAMES, VmExitSignal, fault, noteDelivery, type DeliveringEvent } from './fault';
import { AC, IF, NT, RF, TF, VM } from './flags';
import { CS, DS, ES, FS, GS, SS, type Cpu } from './cpu';
import { ATTR_UNUSABLE, SegReg, descAttr, descLimit } from './segment';
import type { ExceptionKind } from './intercept';
import { switchTask } from './tasks';

/** Returns the ring-`dpl` stack pointer from the TSS as [ss, esp]. */
export function tssStack(c: Cpu, dpl: number, ext: number): [number, number] {
  const t = c.tr;
  const type = t.attr & 0xf;
  if ((type & 7) === 1 || (type & 7) === 3) {
    if (type & 8) {
      const off = 4 + dpl * 8;
      if (off + 5 > t.limit) fault(EXC.TS, (t.selector & 0xfffc) | ext);
      return [c.sysR16(t.base + off + 4), c.sysR32(t.base + off) >>> 0];
    }
    const off = 2 + dpl * 4;
    if (off + 3 > t.limit) fault(EXC.TS, (t.selector & 0xfffc) | ext);
    return [c.sysR16(t.base + off + 2), c.sysR16(t.base + off)];
  }
  return fault(EXC.TS, (t.selector & 0xfffc) | ext);
}

/** Validates a new ring-`dpl` stack segment taken from the TSS or a gate. */
export function checkNewSs(c: Cpu, ss: number, dpl: number, ext: number, exc: number = EXC.TS): [number, number] {
  if ((ss & 0xfffc) === 0) fault(exc, ext);
  const [lo, hi] = c.readDesc(ss, (ss & 0xfffc) | ext);
  const attr = descAttr(hi);
  if ((ss & 3) !== dpl || ((attr >> 5) & 3) !== dpl || (attr & 0x1a) !== 0x12) fault(exc, (ss & 0xfffc) | ext);
  if ((attr & 0x80) === 0) fault(EXC.SS, (ss & 0xfffc) | ext);
  return [lo, hi];
}

interface SavedStack { ss: SegReg; esp: number; cpl: number; stack32: boolean }

export function saveStack(c: Cpu): SavedStack {
  const ss = new SegReg();
  ss.copyFrom(c.seg[SS]);
  return { ss, esp: c.r[4], cpl: c.cpl, stack32: c.stack32 };
}

export function restoreStack(c: Cpu, s: SavedStack): void {
  c.seg[SS].copyFrom(s.ss);
  c.r[4] = s.esp;
  c.stack32 = s.stack32;
  if (c.cpl !== s.cpl) c.setCpl(s.cpl);
}

function deliverReal(c: Cpu, vector: number): void {
  if (vector * 4 + 3 > c.idtr.limit) fault(EXC.GP, 0);
  const a = (c.idtr.base + vector * 4) >>> 0;
  const ip = c.sysR16(a);
  const cs = c.sysR16(a + 2);
  const sp = c.r[4];
  try {
    c.push16(c.getFlags());
    c.push16(c.seg[CS].selector);
    c.push16(c.eip);
  } catch (e) {
    // A VM exit must leave the guest as before the event; a fault keeps its historical behaviour.
    if (e instanceof VmExitSignal) c.r[4] = sp;
    throw e;
  }
  c.flags &= ~(IF | TF | AC | RF);
  c.loadSegReal(CS, cs);
  c.eip = ip;
  c.exitReq = true;
}

/**
 * Delivers vector through the IVT/IDT. `soft` is true for int n / int3 /
 * into (gate DPL checked); `ext` sets the EXT bit of error codes for
 * exceptions and external interrupts. `code` -1 means no error code.
 */
export function deliver(c: Cpu, vector: number, code: number, soft: boolean, ext: boolean, isFault = false): void {
  c.halted = false;
  if ((c.cr0 & 1) === 0) { deliverReal(c, vector); return; }
  const e = ext ? 1 : 0;
  const idtErr = vector * 8 + 2 + e;
  if (vector * 8 + 7 > c.idtr.limit) fault(EXC.GP, idtErr);
  const ga = (c.idtr.base + vector * 8) >>> 0;
  const glo = c.sysR32(ga), ghi = c.sysR32(ga + 4);
  const gtype = (ghi >> 8) & 0x1f;
  if (gtype === 0x05) {
    if (soft && ((ghi >> 13) & 3) < c.cpl) fault(EXC.GP, idtErr);
    if ((ghi & 0x8000) === 0) fault(EXC.NP, idtErr);
    const tsel = glo >>> 16;
    if ((tsel & 4) !== 0) fault(EXC.GP, (tsel & 0xfffc) | e);
    const [tlo, thi, taddr] = c.readDesc(tsel, (tsel & 0xfffc) | e);
    switchTask(c, tsel, tlo, thi, taddr, 'int');
    if (code >= 0) c.push(code, 4);
    return;
  }
  if (gtype !== 0x06 && gtype !== 0x07 && gtype !== 0x0e && gtype !== 0x0f) fault(EXC.GP, idtErr);
  const gdpl = (ghi >> 13) & 3;
  if (soft && gdpl < c.cpl) fault(EXC.GP, idtErr);
  if ((ghi & 0x8000) === 0) fault(EXC.NP, idtErr);
  const gate32 = (gtype & 8) !== 0;
  const trapGate = (gtype & 1) !== 0;
  const sel = glo >>> 16;
  const off = gate32 ? ((ghi & 0xffff0000) | (glo & 0xffff)) >>> 0 : glo & 0xffff;
  if ((sel & 0xfffc) === 0) fault(EXC.GP, e);
  const [lo, hi, daddr] = c.readDesc(sel, (sel & 0xfffc) | e);
  const attr = descAttr(hi);
  const dpl = (attr >> 5) & 3;
  if ((attr & 0x18) !== 0x18 || dpl > c.cpl) fault(EXC.GP, (sel & 0xfffc) | e);
  if ((attr & 0x80) === 0) fault(EXC.NP, (sel & 0xfffc) | e);
  const conforming = (attr & 4) !== 0;
  const v86 = (c.flags & VM) !== 0;
  // Faults push RF=1 so the restarted instruction does not re-trigger an instruction breakpoint.
  const oldFlags = c.getFlags() | (isFault ? RF : 0);
  const size = gate32 ? 4 : 2;
  const oldCs = c.seg[CS].selector;
  const oldEip = c.eip;
  let newCpl = c.cpl;
  // The stack as it was, so a VM exit on the descriptor update below leaves no trace.
  let outer: SavedStack | null = null;
  const esp0 = c.r[4];
  if (!conforming && dpl < c.cpl) {
    if (v86 && dpl !== 0) fault(EXC.GP, (sel & 0xfffc) | e);
    const [nss, nesp] = tssStack(c, dpl, e);
    const [slo, shi] = checkNewSs(c, nss, dpl, e);
    const saved = saveStack(c);
    outer = saved;
    const oldSs = c.seg[SS].selector;
    const oldEsp = c.r[4] >>> 0;
    try {
      c.setCpl(dpl);
      c.setSs(nss, slo, shi);
      c.sp = nesp;
      if (v86) {
        c.push(c.seg[GS].selector, size);
        c.push(c.seg[FS].selector, size);
        c.push(c.seg[DS].selector, size);
        c.push(c.seg[ES].selector, size);
      }
      c.push(oldSs, size);
      c.push(oldEsp, size);
      c.push(oldFlags, size);
      c.push(oldCs, size);
      c.push(oldEip, size);
      if (code >= 0) c.push(code, size);
      if (off > descLimit(lo, hi)) fault(EXC.GP, 0);
    } catch (err) {
      restoreStack(c, saved);
      throw err;
    }
    if (v86) for (const s of [ES, DS, FS, GS]) c.seg[s].set(0, 0, 0, ATTR_UNUSABLE);
    newCpl = dpl;
  } else {
    if (v86) fault(EXC.GP, (sel & 0xfffc) | e);
    const esp = c.r[4];
    try {
      c.push(oldFlags, size);
      c.push(oldCs, size);
      c.push(oldEip, size);
      if (code >= 0) c.push(code, size);
      if (off > descLimit(lo, hi)) fault(EXC.GP, 0);
    } catch (err) {
      c.r[4] = esp;
      throw err;
    }
  }
  try {
    c.setAccessed(daddr, hi);
  } catch (err) {
    if (err instanceof VmExitSignal) {
      if (outer !== null) restoreStack(c, outer); else c.r[4] = esp0;
    }
    throw err;
  }
  c.setCs(sel, lo, hi, newCpl);
  c.flags &= ~(TF | NT | RF | VM);
  if (!trapGate) c.flags &= ~IF;
  c.eip = off;
  if (v86) c.modeChanged();
  c.exitReq = true;
}

const isContributory = (v: number): boolean => v === 0 || (v >= 10 && v <= 13);

/**
 * Offers an exception to the `exception` hook; if the hook does not take
 * it, delivery starts and the exception updates CR2 (#PF) or DR6/DR7 (#DB),
 * which one that causes a VM exit leaves as they were (SDM 27.1).
 */
function offer(c: Cpu, vector: number, code: number, kind: ExceptionKind, during: DeliveringEvent | null, formed: boolean): boolean {
  const faultAddress = vector === EXC.PF ? c.pendingFaultAddress : -1;
  const pendingDr6 = vector === EXC.DB ? c.pendingDr6 : -1;
  const pendingDr7 = vector === EXC.DB ? c.pendingDr7 : -1;
  if (vector === EXC.PF) c.pendingFaultAddress = -1;
  if (vector === EXC.DB) { c.pendingDr6 = -1; c.pendingDr7 = -1; }
  const hook = c.intercept.exception;
  if (hook !== undefined) {
    const dr6 = vector !== EXC.DB ? -1 : pendingDr6 >= 0 ? pendingDr6 : c.dr[6] >>> 0;
    if (hook(c, vector, code, kind, { faultAddress, dr6, during, formed })) return true;
  }
  if (faultAddress >= 0) c.cr2 = faultAddress;
  if (pendingDr6 >= 0) c.dr[6] = pendingDr6;
  if (pendingDr7 >= 0) c.dr[7] = pendingDr7;
  return false;
}

/**
 * Delivers an exception with the double-fault rules: a contributory fault
 * while delivering a contributory one (or any contributory/#PF while
 * delivering #PF) becomes #DF; a fault while delivering #DF shuts the
 * machine down (triple fault). `c.eip` must already be the saved EIP.
 * Each nested exception is offered to the `exception` hook before the
 * rules combine it with the first (SDM 27.1, 25.2: an exception in event
 * delivery that the exception bitmap makes exit is not turned into #DF,
 * and a #DF delivery fault is a triple fault only if it does not exit).
 */
export function raiseException(c: Cpu, vector: number, code: number, kind: ExceptionKind): void {
  const chain: string[] = [];
  let vec = vector, err = code, k = kind;
  // A fault of INT n / INT3 / INTO delivery comes back through the run loop, which restarts here.
  let during = c.faultDuring;
  c.faultDuring = null;
  let formed = false;
  let offered = false;
  for (;;) {
    chain.push(describe(vec, err));
    if (!offered && offer(c, vec, err, k, during, formed)) return;
    let nested: CpuFault;
    try {
      deliver(c, vec, err, k === 'software' || k === 'software-exception', k !== 'software' && k !== 'software-exception', k === 'fault');
      return;
    } catch (e) {
      if (!(e instanceof CpuFault)) { noteDelivery(e, vec, err, k); throw e; }
      nested = e;
    }
    const first: DeliveringEvent = { vector: vec, errorCode: err, kind: k };
    if (offer(c, nested.vector, nested.code, 'fault', first, false)) return;
    const second = nested.vector;
    if (vec === EXC.DF) {
      chain.push(nested.describe());
      c.stopRequest = { reason: 'triple-fault', message: `triple fault: ${chain.join(' -> ')}` };
      return;
    }
    if ((isContributory(vec) && isContributory(second)) || (vec === EXC.PF && (isContributory(second) || second === EXC.PF))) {
      chain.push(nested.describe());
      vec = EXC.DF; err = 0; k = 'abort';
      during = null; formed = true; offered = false;
    } else {
      // Handled serially: the nested exception is delivered next (the hook has seen it already).
      vec = second; err = nested.code; k = 'fault';
      during = first; formed = false; offered = true;
    }
  }
}

function describe(v: number, code: number): string {
  const n = EXC_NAMES[v] ?? `int 0x${v.toString(16)}`;
  return code >= 0 ? `${n}(0x${code.toString(16)})` : n;
}

/** Delivers a software interrupt (int n / int3 / into); c.eip is the return address. */
export function softwareInterrupt(c: Cpu, vector: number, kind: ExceptionKind = 'software'): void {
  if (kind === 'software' && (c.flags & VM) !== 0 && c.iopl < 3) fault(EXC.GP, 0); // INT n only; INT3/INTO are not IOPL-sensitive
  c.faultDuring = null;
  const hook = c.intercept.exception;
  if (hook !== undefined && hook(c, vector, -1, kind, { faultAddress: -1, dr6: -1, during: null, formed: false })) return;
  try {
    deliver(c, vector, -1, true, false);
  } catch (e) {
    noteDelivery(e, vector, -1, kind);
    // The fault goes to the run loop, which puts EIP back on the instruction and raises it.
    if (e instanceof CpuFault) c.faultDuring = { vector, errorCode: -1, kind };
    throw e;
  }
}
