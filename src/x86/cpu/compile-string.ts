// String instructions. With a rep prefix each call runs a bounded chunk of
// iterations and then, if the count is not exhausted, leaves EIP on the
// instruction so the run loop can take interrupts and count it; registers
// are updated per iteration, so a fault mid-way restarts exactly.

import { ES, type Cpu } from './cpu';
import { DF } from './flags';
import type { Ctx, Compiled } from './context';
import { ender, normal } from './context';
import { ioAccess } from './compile-system';

const CHUNK = 4096;

type Step = (c: Cpu, si: number, di: number) => void;

/**
 * Elements of a forward rep movs/stos that can be moved in bulk: within one
 * source page and one destination page and inside the segment limits; 0
 * when the next element needs the element-by-element path.
 */
function bulkCount(c: Cpu, movs: boolean, src: number, size: number, count: number): number {
  const di = c.r[7] >>> 0;
  const es = c.seg[ES];
  const dlin = (es.base + di) >>> 0;
  let k = Math.min(count, Math.floor((0x1000 - (dlin & 0xfff)) / size));
  if (di < es.wlo || di + k * size - 1 > es.whi) return 0;
  if (movs) {
    const si = c.r[6] >>> 0;
    const ss = c.seg[src];
    const slin = (ss.base + si) >>> 0;
    k = Math.min(k, Math.floor((0x1000 - (slin & 0xfff)) / size));
    if (si < ss.rlo || si + k * size - 1 > ss.rhi) return 0;
    // A destination just above the source overlaps element by element: no bulk copy.
    if (dlin > slin && dlin < slin + k * size) return 0;
  }
  return k > 1 ? k : 0;
}

export function stringOp(x: Ctx): Compiled {
  const ins = x.ins;
  const op = ins.opcode;
  const size = (op & 1) === 0 ? 1 : x.osz;
  const a32 = ins.addrSize === 32;
  const src = ins.segOverride >= 0 ? ins.segOverride : 3;
  const rep = ins.rep;
  const base = op & 0xfe;
  let usesSi = false, usesDi = false, compares = false;
  let step: Step;
  switch (base) {
    case 0xa4: usesSi = usesDi = true; step = (c, si, di) => c.wr(ES, di, size, c.rd(src, si, size)); break;
    case 0xaa: usesDi = true; step = (c, _si, di) => c.wr(ES, di, size, size === 4 ? c.r[0] : size === 2 ? c.r16[0] : c.r8[0]); break;
    case 0xac: usesSi = true; step = size === 4 ? (c, si) => { c.r[0] = c.rd32(src, si); } : size === 2 ? (c, si) => { c.r16[0] = c.rd16(src, si); } : (c, si) => { c.r8[0] = c.rd8(src, si); }; break;
    case 0xa6: usesSi = usesDi = compares = true; step = (c, si, di) => { const a = c.rd(src, si, size); c.sub(a, c.rd(ES, di, size), size * 8); }; break;
    case 0xae: usesDi = compares = true; step = (c, _si, di) => { const a = size === 4 ? c.r[0] >>> 0 : size === 2 ? c.r16[0] : c.r8[0]; c.sub(a, c.rd(ES, di, size), size * 8); }; break;
    case 0x6c: usesDi = true; step = (c, _si, di) => { c.rmw(ES, di, size); c.wr(ES, di, size, c.io.in(c.r16[4], size as 1 | 2 | 4)); }; break;
    default: usesSi = true; step = (c, si) => c.io.out(c.r16[4], size as 1 | 2 | 4, c.rd(src, si, size)); break;
  }
  const io = base === 0x6c || base === 0x6e;
  const next = x.next, self = x.eip, len = x.len;
  const one = (c: Cpu): void => {
    const d = (c.flags & DF) !== 0 ? -size : size;
    if (a32) {
      step(c, c.r[6] >>> 0, c.r[7] >>> 0);
      if (usesSi) c.r[6] += d;
      if (usesDi) c.r[7] += d;
    } else {
      step(c, c.r16[12], c.r16[14]);
      if (usesSi) c.r16[12] += d;
      if (usesDi) c.r16[14] += d;
    }
  };
  const check = io
    ? (c: Cpu): boolean => ioAccess(c, ins, len, c.r16[4], size as 1 | 2 | 4, base === 0x6c, true, rep !== 0)
    : null;
  if (rep !== 0 && a32 && (base === 0xa4 || base === 0xaa)) {
    const movs = base === 0xa4;
    return ender((c) => {
      for (let done = 0; done < CHUNK * 16;) {
        const count = c.r[1] >>> 0;
        if (count === 0) { c.eip = next; return; }
        const k = (c.flags & DF) === 0 ? bulkCount(c, movs, src, size, count) : 0;
        if (k === 0) {
          // Unaligned page ends, limits or DF=1: one element the ordinary way (faults happen here).
          one(c);
          c.r[1] = count - 1;
          done++;
          continue;
        }
        const di = c.r[7] >>> 0;
        const dstPhys = c.wxlate((c.seg[ES].base + di) >>> 0, k * size);
        if (movs) {
          const si = c.r[6] >>> 0;
          const srcPhys = c.rxlate((c.seg[src].base + si) >>> 0);
          c.mem.copyForward(dstPhys, srcPhys, k * size);
          c.r[6] = si + k * size;
        } else {
          c.mem.fillPattern(dstPhys, size === 4 ? c.r[0] : size === 2 ? c.r16[0] : c.r8[0], size, k);
        }
        c.r[7] = di + k * size;
        c.r[1] = count - k;
        done += k;
        if (c.exitReq) break;
      }
      if (c.r[1] === 0) c.eip = next; else { c.eip = self; c.repPartial = true; }
    });
  }
  if (rep === 0) {
    if (check === null) return normal(one);
    return ender((c) => { c.eip = self; if (check(c)) return; one(c); c.eip = next; });
  }
  return ender((c) => {
    c.eip = self;
    if (check !== null && check(c)) return;
    for (let n = 0; n < CHUNK; n++) {
      const count = a32 ? c.r[1] : c.r16[2];
      if (count === 0) { c.eip = next; return; }
      one(c);
      if (a32) c.r[1] = count - 1; else c.r16[2] = count - 1;
      if (compares) {
        const z = c.getZF();
        if ((rep === 1 && !z) || (rep === 2 && z)) { c.eip = next; return; }
      }
    }
    if ((a32 ? c.r[1] : c.r16[2]) === 0) c.eip = next; else { c.eip = self; c.repPartial = true; }
  });
}
