// Far control transfers (jmp/call/retf through code descriptors and call
// gates), IRET and the EFLAGS update rules of POPF/IRET per CPL and IOPL.

import { EXC, fault } from './fault';
import { AC, ID, IF, IOPL, NT, RF, VIF, VIP, VM } from './flags';
import { CS, DS, ES, FS, GS, SS, type Cpu } from './cpu';
import { checkNewSs, restoreStack, saveStack, tssStack } from './interrupts';
import { descAttr, descLimit } from './segment';
import { switchTask, taskReturn } from './tasks';

function codeCheck(c: Cpu, sel: number, hi: number, rplOrCpl: number, exact: boolean): void {
  const attr = descAttr(hi);
  if ((attr & 0x18) !== 0x18) fault(EXC.GP, sel & 0xfffc);
  const dpl = (attr >> 5) & 3;
  if ((attr & 4) !== 0) { if (dpl > rplOrCpl) fault(EXC.GP, sel & 0xfffc); }
  else if (exact ? dpl !== rplOrCpl : dpl > rplOrCpl) fault(EXC.GP, sel & 0xfffc);
  if ((attr & 0x80) === 0) fault(EXC.NP, sel & 0xfffc);
}

function checkLimit(off: number, lo: number, hi: number): void {
  if (off > descLimit(lo, hi)) fault(EXC.GP, 0);
}

/** What a direct far JMP or CALL checks on a code-segment target: type, privilege (conforming or not), presence. */
function checkCodeTarget(c: Cpu, sel: number, attr: number): void {
  if ((attr & 8) === 0) fault(EXC.GP, sel & 0xfffc);
  const dpl = (attr >> 5) & 3;
  if ((attr & 4) !== 0) { if (dpl > c.cpl) fault(EXC.GP, sel & 0xfffc); }
  else if ((sel & 3) > c.cpl || dpl !== c.cpl) fault(EXC.GP, sel & 0xfffc);
  if ((attr & 0x80) === 0) fault(EXC.NP, sel & 0xfffc);
}

/** Far JMP to sel:off (off already truncated to the operand size). */
export function farJmp(c: Cpu, sel: number, off: number): void {
  if ((c.cr0 & 1) === 0 || (c.flags & VM) !== 0) {
    if (off > c.seg[CS].limit) fault(EXC.GP, 0);
    c.loadSegReal(CS, sel);
    c.eip = off;
    c.exitReq = true;
    return;
  }
  if ((sel & 0xfffc) === 0) fault(EXC.GP, 0);
  const [lo, hi, addr] = c.readDesc(sel);
  const attr = descAttr(hi);
  if ((attr & 0x10) !== 0) {
    checkCodeTarget(c, sel, attr);
    checkLimit(off, lo, hi);
    c.setAccessed(addr, hi);
    c.setCs(sel, lo, hi, c.cpl);
    c.eip = off;
    return;
  }
  const type = attr & 0xf;
  if (type === 4 || type === 0xc) {
    const gdpl = (attr >> 5) & 3;
    if (gdpl < c.cpl || gdpl < (sel & 3)) fault(EXC.GP, sel & 0xfffc);
    if ((attr & 0x80) === 0) fault(EXC.NP, sel & 0xfffc);
    const tsel = lo >>> 16;
    const toff = type === 0xc ? ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0 : lo & 0xffff;
    if ((tsel & 0xfffc) === 0) fault(EXC.GP, 0);
    const [tlo, thi, taddr] = c.readDesc(tsel);
    const tattr = descAttr(thi);
    if ((tattr & 0x18) !== 0x18) fault(EXC.GP, tsel & 0xfffc);
    const tdpl = (tattr >> 5) & 3;
    if ((tattr & 4) !== 0 ? tdpl > c.cpl : tdpl !== c.cpl) fault(EXC.GP, tsel & 0xfffc);
    if ((tattr & 0x80) === 0) fault(EXC.NP, tsel & 0xfffc);
    checkLimit(toff, tlo, thi);
    c.setAccessed(taddr, thi);
    c.setCs(tsel, tlo, thi, c.cpl);
    c.eip = toff;
    return;
  }
  taskTarget(c, sel, attr, lo, hi, 'jmp');
}

/** JMP/CALL to a TSS descriptor or task gate: checks, then the task switch. */
function taskTarget(c: Cpu, sel: number, attr: number, lo: number, hi: number, source: 'jmp' | 'call'): void {
  const type = attr & 0xf;
  const dpl = (attr >> 5) & 3;
  let tss = sel, tattr = attr, tlo = lo, thi = hi;
  let taddr = c.descAddr(sel);
  if (type === 5) {
    if (dpl < c.cpl || dpl < (sel & 3)) fault(EXC.GP, sel & 0xfffc);
    if ((attr & 0x80) === 0) fault(EXC.NP, sel & 0xfffc);
    tss = lo >>> 16;
    if ((tss & 4) !== 0) fault(EXC.GP, tss & 0xfffc);
    [tlo, thi, taddr] = c.readDesc(tss);
    tattr = descAttr(thi);
  } else if (type === 1 || type === 9 || type === 3 || type === 0xb) {
    if (dpl < c.cpl || dpl < (sel & 3)) fault(EXC.GP, sel & 0xfffc);
  } else {
    fault(EXC.GP, sel & 0xfffc);
  }
  const ttype = tattr & 0x1f;
  if (ttype !== 1 && ttype !== 9) fault(EXC.GP, tss & 0xfffc);
  if ((tattr & 0x80) === 0) fault(EXC.NP, tss & 0xfffc);
  const min = ttype === 9 ? 0x67 : 0x2b;
  if (descLimit(tlo, thi) < min) fault(EXC.TS, tss & 0xfffc);
  switchTask(c, tss, tlo, thi, taddr, source);
}

/** Far CALL to sel:off; `size` is the operand size (2 or 4); c.eip is the return offset. */
export function farCall(c: Cpu, sel: number, off: number, size: number): void {
  const retCs = c.seg[CS].selector;
  const retEip = c.eip;
  if ((c.cr0 & 1) === 0 || (c.flags & VM) !== 0) {
    const esp = c.r[4];
    try {
      c.push(retCs, size);
      c.push(retEip, size);
      if (off > c.seg[CS].limit) fault(EXC.GP, 0);
    } catch (e) { c.r[4] = esp; throw e; }
    c.loadSegReal(CS, sel);
    c.eip = off;
    c.exitReq = true;
    return;
  }
  if ((sel & 0xfffc) === 0) fault(EXC.GP, 0);
  const [lo, hi, addr] = c.readDesc(sel);
  const attr = descAttr(hi);
  if ((attr & 0x10) !== 0) {
    checkCodeTarget(c, sel, attr);
    const esp = c.r[4];
    try {
      c.push(retCs, size);
      c.push(retEip, size);
      checkLimit(off, lo, hi);
    } catch (e) { c.r[4] = esp; throw e; }
    c.setAccessed(addr, hi);
    c.setCs(sel, lo, hi, c.cpl);
    c.eip = off;
    return;
  }
  const type = attr & 0xf;
  if (type !== 4 && type !== 0xc) { c.eip = retEip; taskTarget(c, sel, attr, lo, hi, 'call'); return; }
  const gdpl = (attr >> 5) & 3;
  if (gdpl < c.cpl || gdpl < (sel & 3)) fault(EXC.GP, sel & 0xfffc);
  if ((attr & 0x80) === 0) fault(EXC.NP, sel & 0xfffc);
  const gsize = type === 0xc ? 4 : 2;
  const params = hi & 0x1f;
  const tsel = lo >>> 16;
  const toff = gsize === 4 ? ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0 : lo & 0xffff;
  if ((tsel & 0xfffc) === 0) fault(EXC.GP, 0);
  const [tlo, thi, taddr] = c.readDesc(tsel);
  const tattr = descAttr(thi);
  const tdpl = (tattr >> 5) & 3;
  if ((tattr & 0x18) !== 0x18 || tdpl > c.cpl) fault(EXC.GP, tsel & 0xfffc);
  if ((tattr & 0x80) === 0) fault(EXC.NP, tsel & 0xfffc);
  if ((tattr & 4) === 0 && tdpl < c.cpl) {
    const [nss, nesp] = tssStack(c, tdpl, 0);
    const [slo, shi] = checkNewSs(c, nss, tdpl, 0);
    const oldSs = c.seg[SS].selector;
    const oldEsp = c.r[4] >>> 0;
    const args: number[] = [];
    for (let i = params - 1; i >= 0; i--) args.push(c.peek(i * gsize, gsize));
    const saved = saveStack(c);
    try {
      c.setCpl(tdpl);
      c.setSs(nss, slo, shi);
      c.sp = nesp;
      c.push(oldSs, gsize);
      c.push(oldEsp, gsize);
      for (const a of args) c.push(a, gsize);
      c.push(retCs, gsize);
      c.push(retEip, gsize);
      checkLimit(toff, tlo, thi);
    } catch (e) { restoreStack(c, saved); throw e; }
    c.setAccessed(taddr, thi);
    c.setCs(tsel, tlo, thi, tdpl);
  } else {
    const esp = c.r[4];
    try {
      c.push(retCs, gsize);
      c.push(retEip, gsize);
      checkLimit(toff, tlo, thi);
    } catch (e) { c.r[4] = esp; throw e; }
    c.setAccessed(taddr, thi);
    c.setCs(tsel, tlo, thi, c.cpl);
  }
  c.eip = toff;
}

/** RETF [imm]: size is the operand size. */
export function farRet(c: Cpu, size: number, imm: number): void {
  const off = c.peek(0, size);
  const sel = c.peek(size, size) & 0xffff;
  if ((c.cr0 & 1) === 0 || (c.flags & VM) !== 0) {
    if (off > c.seg[CS].limit && (c.flags & VM) !== 0) fault(EXC.GP, 0);
    c.sp = c.sp + 2 * size + imm;
    c.loadSegReal(CS, sel);
    c.eip = off;
    c.exitReq = true;
    return;
  }
  if ((sel & 0xfffc) === 0) fault(EXC.GP, 0);
  const rpl = sel & 3;
  if (rpl < c.cpl) fault(EXC.GP, sel & 0xfffc);
  const [lo, hi, addr] = c.readDesc(sel);
  codeCheck(c, sel, hi, rpl, true);
  checkLimit(off, lo, hi);
  if (rpl > c.cpl) {
    const nesp = c.peek(2 * size + imm, size);
    const nss = c.peek(3 * size + imm, size) & 0xffff;
    const [slo, shi] = checkNewSs(c, nss, rpl, 0, EXC.GP);
    c.setAccessed(addr, hi);
    c.setCs(sel, lo, hi, rpl);
    c.setSs(nss, slo, shi);
    c.sp = nesp + imm;
    c.nullInaccessibleSegs();
  } else {
    c.sp = c.sp + 2 * size + imm;
    c.setAccessed(addr, hi);
    c.setCs(sel, lo, hi, c.cpl);
  }
  c.eip = off;
}

/**
 * Writes a popped EFLAGS image with the POPF/IRET rules: IOPL changes only
 * at CPL 0, IF only when CPL <= IOPL (so ring-3 POPF silently keeps both),
 * VM/VIP/VIF are kept, RF is cleared by POPF. For 16-bit forms only the
 * low word changes.
 */
export function writeFlags(c: Cpu, v: number, size: number, cpl: number, fromIret: boolean): void {
  const old = c.getFlags();
  let mask = 0x4dd5 | AC | ID | (fromIret ? RF : 0) | 0x100; // CF PF AF ZF SF TF DF OF NT (+RF) AC ID
  mask |= 0x400;
  const real = (c.cr0 & 1) === 0;
  if (real || cpl === 0) mask |= IOPL;
  if (real || cpl <= ((old & IOPL) >> 12)) mask |= IF;
  if ((old & VM) !== 0) mask = (mask | IF) & ~IOPL;
  if (size === 2) mask &= 0xffff;
  let nv = (old & ~mask) | (v & mask);
  if (!fromIret) nv &= ~RF;
  c.setFlagsRaw(nv);
}

export function popf(c: Cpu, size: number): void {
  if ((c.flags & VM) !== 0 && c.iopl < 3) fault(EXC.GP, 0);
  const v = c.peek(0, size);
  c.sp = c.sp + size;
  writeFlags(c, v, size, c.cpl, false);
}

export function iret(c: Cpu, size: number, next: number): void {
  c.nmiBlocked = false;
  if ((c.cr0 & 1) === 0) {
    const ip = c.peek(0, size), cs = c.peek(size, size) & 0xffff, fl = c.peek(2 * size, size);
    if (ip > c.seg[CS].limit) fault(EXC.GP, 0);
    c.sp = c.sp + 3 * size;
    c.loadSegReal(CS, cs);
    c.eip = ip;
    if (size === 4) c.setFlagsRaw((fl & 0x257fd5) | (c.getFlags() & 0x1a0000));
    else c.setFlagsRaw((c.getFlags() & 0xffff0000) | fl);
    c.exitReq = true;
    return;
  }
  if ((c.flags & VM) !== 0) {
    if (c.iopl < 3) fault(EXC.GP, 0);
    const ip = c.peek(0, size), cs = c.peek(size, size) & 0xffff, fl = c.peek(2 * size, size);
    c.sp = c.sp + 3 * size;
    c.loadSegReal(CS, cs);
    c.eip = ip;
    writeFlags(c, fl, size, 3, true);
    c.exitReq = true;
    return;
  }
  if ((c.flags & NT) !== 0) { c.eip = next; taskReturn(c); return; }
  const off = c.peek(0, size);
  const sel = c.peek(size, size) & 0xffff;
  const fl = c.peek(2 * size, size);
  if (size === 4 && (fl & VM) !== 0 && c.cpl === 0) { iretToV86(c, off, sel, fl); return; }
  if ((sel & 0xfffc) === 0) fault(EXC.GP, 0);
  const rpl = sel & 3;
  if (rpl < c.cpl) fault(EXC.GP, sel & 0xfffc);
  const [lo, hi, addr] = c.readDesc(sel);
  codeCheck(c, sel, hi, rpl, true);
  checkLimit(off, lo, hi);
  const oldCpl = c.cpl;
  if (rpl > c.cpl) {
    const nesp = c.peek(3 * size, size);
    const nss = c.peek(4 * size, size) & 0xffff;
    const [slo, shi] = checkNewSs(c, nss, rpl, 0, EXC.GP);
    c.setAccessed(addr, hi);
    writeFlags(c, fl, size, oldCpl, true);
    c.setCs(sel, lo, hi, rpl);
    c.setSs(nss, slo, shi);
    c.sp = nesp;
    c.nullInaccessibleSegs();
  } else {
    c.sp = c.sp + 3 * size;
    c.setAccessed(addr, hi);
    writeFlags(c, fl, size, oldCpl, true);
    c.setCs(sel, lo, hi, c.cpl);
  }
  c.eip = off;
  c.exitReq = true;
}

function iretToV86(c: Cpu, ip: number, cs: number, fl: number): void {
  const esp = c.peek(12, 4), ss = c.peek(16, 4) & 0xffff;
  const es = c.peek(20, 4) & 0xffff, ds = c.peek(24, 4) & 0xffff, fs = c.peek(28, 4) & 0xffff, gs = c.peek(32, 4) & 0xffff;
  c.setFlagsRaw(fl & (0x3f7fd5 | VIF | VIP));
  c.setCpl(3);
  c.loadSegReal(CS, cs);
  c.loadSegReal(SS, ss);
  c.loadSegReal(ES, es);
  c.loadSegReal(DS, ds);
  c.loadSegReal(FS, fs);
  c.loadSegReal(GS, gs);
  c.r[4] = esp;
  c.eip = ip & 0xffff;
  c.modeChanged();
  c.shadow = false;
}
