// Hardware task switching through 32-bit TSSs: JMP/CALL to a TSS or task
// gate, IRET with NT=1, and task gates in the IDT. 16-bit TSSs are not
// switched to (#GP). The outgoing state is saved in the current TSS, the
// incoming one loaded from the new TSS with its segment checks (#TS).

import { CS, DS, ES, FS, GS, SS, type Cpu } from './cpu';
import { CpuFault, EXC, fault } from './fault';
import { NT, VM } from './flags';
import { ATTR_UNUSABLE, descAttr, descBase, descLimit } from './segment';

export type TaskSource = 'jmp' | 'call' | 'iret' | 'int';

const SEG_OFFSETS: [number, number][] = [[ES, 0x48], [CS, 0x4c], [SS, 0x50], [DS, 0x54], [FS, 0x58], [GS, 0x5c]];

/** Switches to the task whose TSS descriptor is (lo, hi) at selector sel; c.eip is the outgoing task's resume EIP. */
export function switchTask(c: Cpu, sel: number, lo: number, hi: number, addr: number, source: TaskSource): void {
  const attr = descAttr(hi);
  if ((attr & 0x15) !== 0x01 || (attr & 8) === 0) fault(EXC.GP, sel & 0xfffc); // 32-bit TSS only
  const busy = (attr & 2) !== 0;
  if (source === 'iret' ? !busy : busy) fault(EXC.GP, sel & 0xfffc);
  const nbase = descBase(lo, hi), nlimit = descLimit(lo, hi);
  if (nlimit < 0x67) fault(EXC.TS, sel & 0xfffc);
  const old = c.tr;
  if ((old.attr & 0xf) !== 0xb || old.limit < 0x67) fault(EXC.TS, old.selector & 0xfffc);
  const obase = old.base;
  // Read the whole incoming image first (a #PF here leaves everything unchanged).
  const img: number[] = [];
  for (let o = 0; o < 0x68; o += 4) img.push(c.sysR32(nbase + o) >>> 0);
  // Save the outgoing state.
  let flags = c.getFlags();
  if (source === 'iret') flags &= ~NT;
  c.sysW32(obase + 0x20, c.eip);
  c.sysW32(obase + 0x24, flags);
  for (let r = 0; r < 8; r++) c.sysW32(obase + 0x28 + r * 4, c.r[r]);
  for (const [s, o] of SEG_OFFSETS) c.sysW16(obase + o, c.seg[s].selector);
  // Busy bits and the back link.
  if (source === 'jmp' || source === 'iret') {
    const [, ohi, oaddr] = c.readDesc(old.selector);
    c.sysW32(oaddr + 4, ohi & ~0x200);
  }
  if (source !== 'iret') c.sysW32(addr + 4, hi | 0x200);
  if (source === 'call' || source === 'int') c.sysW16(nbase, old.selector);
  c.tr.set(sel, nbase, nlimit, attr | 2);
  c.cr0 = (c.cr0 | 8) >>> 0; // TS
  // Load the incoming state.
  if ((c.cr0 & 0x80000000) !== 0) c.setCr3(img[0x1c >> 2]);
  let nflags = img[0x24 >> 2];
  if (source === 'call' || source === 'int') nflags |= NT;
  c.setFlagsRaw(nflags);
  for (let r = 0; r < 8; r++) c.r[r] = img[(0x28 >> 2) + r];
  c.eip = img[0x20 >> 2];
  const sels = SEG_OFFSETS.map(([, o]) => (img[o >> 2] >>> ((o & 2) * 8)) & 0xffff);
  const ldt = img[0x60 >> 2] & 0xffff;
  // Segment caches start unusable so a failing load below cannot leave stale ones.
  for (let s = 0; s < 6; s++) c.seg[s].selector = sels[s];
  loadTaskLdt(c, ldt);
  if ((nflags & VM) !== 0) {
    c.setCpl(3);
    for (let s = 0; s < 6; s++) c.loadSegReal(s, sels[s]);
  } else {
    loadTaskCs(c, sels[1]);
    try {
      c.loadSeg(SS, sels[2]);
      for (const s of [ES, DS, FS, GS]) c.loadSeg(s, sels[s]);
    } catch (e) {
      if (e instanceof CpuFault && e.vector !== EXC.SS) throw new CpuFault(EXC.TS, e.code);
      throw e;
    }
  }
  c.modeChanged();
  c.linGen++;
  c.exitReq = true;
}

function loadTaskLdt(c: Cpu, ldt: number): void {
  if ((ldt & 0xfffc) === 0) { c.ldtr.set(ldt, 0, 0, ATTR_UNUSABLE); return; }
  if ((ldt & 4) !== 0) fault(EXC.TS, ldt & 0xfffc);
  const [lo, hi] = c.readDesc(ldt, ldt & 0xfffc);
  const attr = descAttr(hi);
  if ((attr & 0x1f) !== 2) fault(EXC.TS, ldt & 0xfffc);
  if ((attr & 0x80) === 0) fault(EXC.TS, ldt & 0xfffc);
  c.ldtr.set(ldt, descBase(lo, hi), descLimit(lo, hi), attr);
}

function loadTaskCs(c: Cpu, sel: number): void {
  if ((sel & 0xfffc) === 0) fault(EXC.TS, 0);
  const [lo, hi, addr] = c.readDesc(sel, sel & 0xfffc);
  const attr = descAttr(hi);
  const dpl = (attr >> 5) & 3;
  if ((attr & 0x18) !== 0x18) fault(EXC.TS, sel & 0xfffc);
  if ((attr & 4) !== 0 ? dpl > (sel & 3) : dpl !== (sel & 3)) fault(EXC.TS, sel & 0xfffc);
  if ((attr & 0x80) === 0) fault(EXC.NP, sel & 0xfffc);
  c.setAccessed(addr, hi);
  c.setCs(sel, lo, hi, sel & 3);
}

/** IRET with NT=1: back to the task named by the current TSS's back link. */
export function taskReturn(c: Cpu): void {
  const back = c.sysR16(c.tr.base);
  if ((back & 4) !== 0) fault(EXC.TS, back & 0xfffc);
  const [lo, hi, addr] = c.readDesc(back, back & 0xfffc);
  switchTask(c, back, lo, hi, addr, 'iret');
}
