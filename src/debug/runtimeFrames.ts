// Threads and stack frames: one thread per vCPU, named with the mode it is
// in (and the technique); at a stop at a VM exit, a hole or a trap, a frame
// for it above the guest frames. Guest
// frames come from the source map. Callers are found by following the EBP
// chain where the guest keeps frame pointers, and by scanning the stack for
// return addresses (a value just after a CALL of the program) where it does
// not: leaf functions, code before `push ebp; mov ebp, esp` or after the
// frame is torn down, and guests that use EBP for anything else.

import type { DebugProtocol } from '@vscode/debugprotocol';
import type { GuestImage, Runtime } from './runtime';
import { eventFrame, eventVcpu } from './runtimeEvents';
import { linearIp, readBytes, stackPointer } from './runtimeState';
import type { DebugTarget } from './target';
import { decode } from '../x86/decode/index';

const FRAME_BASE = 1000;
/** Frame slots per vCPU: 0 the current frame, 1.. callers, the last one the exit frame. */
const SLOTS = 64;
const EXIT_SLOT = SLOTS - 1;
/** Stack words looked at for return addresses above the last frame found, and callers shown at most. */
const SCAN_WORDS = 512;
const MAX_CALLERS = 32;
/** How far above the stack pointer a frame record may be (a frame with large locals). */
const MAX_FRAME_REACH = 1 << 20;

const hex = (n: number): string => `0x${(n >>> 0).toString(16).toUpperCase()}`;

export function threadList(target: DebugTarget): DebugProtocol.Thread[] {
  return Array.from({ length: target.vcpuCount }, (_, i) => ({ id: i + 1, name: target.threadName(i) }));
}

const frameId = (vcpu: number, slot: number): number => FRAME_BASE + vcpu * SLOTS + slot;

export function frameVcpu(rt: Runtime, frameId: number): number | undefined {
  if (!Number.isInteger(frameId) || frameId < FRAME_BASE) return undefined;
  const v = Math.floor((frameId - FRAME_BASE) / SLOTS);
  return v < rt.target.vcpuCount ? v : undefined;
}

export function frameIsExit(id: number): boolean {
  return id >= FRAME_BASE && (id - FRAME_BASE) % SLOTS === EXIT_SLOT;
}

/** A CALL of the program: where it goes when the target is in the instruction (undefined through a register or memory). */
interface CallSite {
  target: number | undefined;
}

/** The CALL of the program that ends right before `address`, or undefined when `address` is no return address. */
function callBefore(rt: Runtime, address: number): CallSite | undefined {
  const map = rt.image.sourceMap;
  const e = map?.lookup(address - 1);
  if (e === undefined || e.address + e.length !== address || e.length === 0) return undefined;
  const at = e.address - rt.image.loadAddress;
  if (at < 0 || at >= rt.image.bytes.length) return undefined;
  const ins = decode(rt.image.bytes, at, e.bits, e.address);
  if (ins.mnemonic !== 'call' || ins.length !== e.length) return undefined;
  const op = ins.operands[0];
  return { target: op !== undefined && op.kind === 'rel' ? op.target >>> 0 : undefined };
}

/** Targets of the program's direct CALLs, sorted: the entry points of its functions. */
const functionEntries = new WeakMap<GuestImage, number[]>();

function entriesOf(image: GuestImage): number[] {
  let list = functionEntries.get(image);
  if (list !== undefined) return list;
  const targets = new Set<number>();
  const map = image.sourceMap;
  for (const e of map?.entries ?? []) {
    const at = e.address - image.loadAddress;
    if (e.length === 0 || at < 0 || at >= image.bytes.length || image.bytes[at] !== 0xe8) continue;
    const ins = decode(image.bytes, at, e.bits, e.address);
    const op = ins.operands[0];
    if (ins.mnemonic === 'call' && ins.length === e.length && op !== undefined && op.kind === 'rel') targets.add(op.target >>> 0);
  }
  list = [...targets].sort((a, b) => a - b);
  functionEntries.set(image, list);
  return list;
}

/** The function an address is in, as the nearest direct CALL target at or below it; undefined before the first. */
function functionAt(entries: readonly number[], address: number): number | undefined {
  let lo = 0;
  let hi = entries.length - 1;
  let best: number | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (entries[mid] <= address) {
      best = entries[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

/**
 * Stack words by offset in the stack segment; null where unreadable. The
 * stretch above the stack pointer that frames and scans usually need is read
 * at once, anything further (a frame record far up) a chunk at a time.
 */
class StackWords {
  private static readonly CHUNK = 256;
  private readonly near: (number | null)[];
  private readonly far = new Map<number, (number | null)[]>();
  private readonly limit: number;

  constructor(private readonly rt: Runtime, private readonly vcpu: number, private readonly base: number, readonly width: 2 | 4, private readonly sp: number) {
    this.limit = width === 4 ? 0x1_0000_0000 : 0x1_0000;
    this.near = readBytes(rt.target, vcpu, 'gva', (base + sp) >>> 0, Math.min((SCAN_WORDS + 64) * width, this.limit - sp));
  }

  word(offset: number): number | null {
    if (offset < 0 || offset + this.width > this.limit) return null;
    let v = 0;
    const i = offset - this.sp;
    if (i >= 0 && i + this.width <= this.near.length) {
      for (let k = this.width - 1; k >= 0; k--) {
        const b = this.near[i + k];
        if (b === null) return null;
        v = v * 256 + b;
      }
      return v;
    }
    for (let k = this.width - 1; k >= 0; k--) {
      const b = this.farByte(offset + k);
      if (b === null) return null;
      v = v * 256 + b;
    }
    return v;
  }

  private farByte(offset: number): number | null {
    const start = offset - (offset % StackWords.CHUNK);
    let chunk = this.far.get(start);
    if (chunk === undefined) {
      chunk = readBytes(this.rt.target, this.vcpu, 'gva', (this.base + start) >>> 0, StackWords.CHUNK);
      this.far.set(start, chunk);
    }
    return chunk[offset - start] ?? null;
  }
}

/**
 * Return addresses of the callers, innermost first. Each frame takes its
 * caller from the frame record at the frame pointer (saved EBP, then the
 * return address) when there is one that belongs to it: above what the
 * frames below used of the stack, and with a return address after a CALL of
 * the program into the function the frame is in (a CALL through a register
 * or memory is taken as one). Otherwise the frame has none (a leaf, or
 * code before `mov ebp, esp` or after `leave`, whose EBP is still its
 * caller's): its return address is the first one found on the stack above
 * what was used, and EBP is left as it is for the frames further out.
 */
function callers(rt: Runtime, vcpu: number): number[] {
  if (rt.image.sourceMap === undefined) return [];
  const c = rt.target.cpu(vcpu);
  const big = (c.cr0 & 1) !== 0 && (c.seg[2].attr & 0x4000) !== 0;
  const width = big ? 4 : 2;
  const sp = stackPointer(rt.target, vcpu);
  const stack = new StackWords(rt, vcpu, c.seg[2].base >>> 0, width, sp);
  const entries = entriesOf(rt.image);
  const linear = (v: number): number => (big ? v : (c.seg[1].base + v) >>> 0);
  let fp = big ? c.r[5] >>> 0 : c.r[5] & 0xffff;
  // The lowest stack offset not yet accounted to a frame.
  let used = sp;
  let ip = linearIp(rt.target, vcpu);
  const out: number[] = [];
  while (out.length < MAX_CALLERS) {
    const fn = functionAt(entries, ip);
    let ret: number | undefined;
    if (fp >= used && fp - sp <= MAX_FRAME_REACH && fp % width === sp % width) {
      const saved = stack.word(fp);
      const r = stack.word(fp + width);
      const call = r === null ? undefined : callBefore(rt, linear(r));
      if (saved !== null && r !== null && call !== undefined && (call.target === undefined || call.target === fn)) {
        ret = linear(r);
        used = fp + 2 * width;
        fp = saved;
      }
    }
    if (ret === undefined) {
      const end = used + SCAN_WORDS * width;
      for (let at = used; at < end; at += width) {
        const v = stack.word(at);
        if (v === null) break;
        if (callBefore(rt, linear(v)) !== undefined) {
          ret = linear(v);
          used = at + width;
          break;
        }
      }
    }
    if (ret === undefined) break;
    out.push(ret);
    // The caller is where its CALL is (a CALL that ends a function returns to the next one's first byte).
    ip = ret - 1;
  }
  return out;
}

/** The label at or below an address inside the image, as "label+0x4". */
export function symbolFor(rt: Runtime, address: number): string | undefined {
  const symbols = rt.image.symbols;
  if (symbols === undefined) return undefined;
  const lo = rt.image.loadAddress;
  const hi = lo + rt.image.bytes.length;
  if (address < lo || address >= hi) return undefined;
  let best: [string, number] | undefined;
  for (const [name, value] of symbols) {
    if (value < lo || value >= hi || value > address) continue;
    if (best === undefined || value > best[1] || (value === best[1] && name.includes('.') && !best[0].includes('.'))) best = [name, value];
  }
  if (best === undefined) return undefined;
  return best[1] === address ? best[0] : `${best[0]}+${hex(address - best[1])}`;
}

/** A DAP source for a file of the program. */
export function sourceOf(file: string): DebugProtocol.Source {
  const name = file.split(/[\\/]/).pop() ?? file;
  return { name, path: file };
}

export function stackFrames(rt: Runtime, vcpu: number): DebugProtocol.StackFrame[] {
  const frames: DebugProtocol.StackFrame[] = [];
  const stop = rt.lastStop;
  if (stop !== null && stop.event !== undefined && eventVcpu(stop.event) === vcpu) {
    const f = eventFrame(stop.event);
    frames.push({ id: frameId(vcpu, EXIT_SLOT), name: f.name, line: 0, column: 0, presentationHint: 'label', instructionPointerReference: hex(f.address) });
  }
  const address = linearIp(rt.target, vcpu);
  const c = rt.target.cpu(vcpu);
  const where = (c.cr0 & 1) === 0 ? `${c.seg[1].selector.toString(16).toUpperCase().padStart(4, '0')}:${(c.eip & 0xffff).toString(16).toUpperCase().padStart(4, '0')}` : hex(c.eip);
  const label = symbolFor(rt, address);
  const entry = rt.image.sourceMap?.lookup(address);
  const inEntry = entry !== undefined && address < entry.address + Math.max(1, entry.length);
  const frame: DebugProtocol.StackFrame = { id: frameId(vcpu, 0), name: label !== undefined ? `${label} (${where})` : where, line: 0, column: 0, instructionPointerReference: hex(address) };
  if (inEntry && entry !== undefined) {
    frame.source = sourceOf(entry.file);
    frame.line = entry.line;
    frame.column = Math.max(1, entry.column);
  } else {
    // No source here: the client shows the Disassembly view at the instruction pointer.
    frame.presentationHint = 'subtle';
  }
  frames.push(frame);
  callers(rt, vcpu).forEach((ret, i) => {
    // The caller's line is the CALL's, just before the return address.
    const e = rt.image.sourceMap?.lookup(ret - 1);
    const name = symbolFor(rt, ret - 1) ?? hex(ret);
    frames.push({
      id: frameId(vcpu, 1 + i),
      name: `${name.replace(/\+0x[0-9A-F]+$/, '')} (return to ${hex(ret)})`,
      line: e?.line ?? 0,
      column: Math.max(1, e?.column ?? 1),
      ...(e !== undefined ? { source: sourceOf(e.file) } : {}),
      instructionPointerReference: hex(ret),
    });
  });
  return frames;
}
