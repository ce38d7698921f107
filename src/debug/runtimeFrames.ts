// Threads and stack frames: one thread per vCPU, named with the mode it is
// in; at a VM-exit stop a frame for the exit above the guest frames. Guest
// frames come from the source map. Callers are found by scanning the stack
// for return addresses (a value just after a CALL of the program), not by
// following EBP: teaching guests rarely keep frame pointers.

import type { DebugProtocol } from '@vscode/debugprotocol';
import type { Vm } from '../vmm/vtx/index';
import type { Runtime } from './runtime';
import { exitFrameName } from './runtimeExits';
import { linearIp, readBytes, stackPointer } from './runtimeState';
import { decode } from '../x86/decode/index';

const FRAME_BASE = 1000;
/** Frame slots per vCPU: 0 the current frame, 1.. callers, the last one the exit frame. */
const SLOTS = 64;
const EXIT_SLOT = SLOTS - 1;
/** Stack words looked at for return addresses, and callers shown at most. */
const SCAN_WORDS = 512;
const MAX_CALLERS = 32;

const hex = (n: number): string => `0x${(n >>> 0).toString(16).toUpperCase()}`;

export function threadName(vm: Vm, vcpu: number): string {
  const state = vm.runState[vcpu];
  if (state === 'wait-for-sipi') return `vCPU ${vcpu} · wait-for-SIPI`;
  const c = vm.vcpus[vcpu].cpu;
  const mode = (c.cr0 & 1) === 0 ? 'real mode' : `ring ${c.seg[1].selector & 3}`;
  return `vCPU ${vcpu} · non-root · ${mode}${state === 'halted' ? ' · halted' : ''}`;
}

export function threadList(vm: Vm): DebugProtocol.Thread[] {
  return vm.vcpus.map((_, i) => ({ id: i + 1, name: threadName(vm, i) }));
}

const frameId = (vcpu: number, slot: number): number => FRAME_BASE + vcpu * SLOTS + slot;

export function frameVcpu(rt: Runtime, frameId: number): number | undefined {
  if (!Number.isInteger(frameId) || frameId < FRAME_BASE) return undefined;
  const v = Math.floor((frameId - FRAME_BASE) / SLOTS);
  return v < rt.vm.vcpus.length ? v : undefined;
}

export function frameIsExit(id: number): boolean {
  return id >= FRAME_BASE && (id - FRAME_BASE) % SLOTS === EXIT_SLOT;
}

/** True when `address` follows a CALL instruction of the program (a return address). */
function isReturnAddress(rt: Runtime, address: number): boolean {
  const map = rt.image.sourceMap;
  const e = map?.lookup(address - 1);
  if (e === undefined || e.address + e.length !== address || e.length === 0) return false;
  const at = e.address - rt.image.loadAddress;
  if (at < 0 || at >= rt.image.bytes.length) return false;
  const ins = decode(rt.image.bytes, at, e.bits, e.address);
  return ins.mnemonic === 'call' && ins.length === e.length;
}

/** Return addresses on the stack, innermost first. */
function callers(rt: Runtime, vcpu: number): number[] {
  if (rt.image.sourceMap === undefined) return [];
  const c = rt.vm.vcpus[vcpu].cpu;
  const big = (c.cr0 & 1) !== 0 && (c.seg[2].attr & 0x4000) !== 0;
  const width = big ? 4 : 2;
  const base = (c.seg[2].base + stackPointer(rt.vm, vcpu)) >>> 0;
  const bytes = readBytes(rt.vm, vcpu, 'gva', base, SCAN_WORDS * width);
  const out: number[] = [];
  for (let i = 0; i + width <= bytes.length && out.length < MAX_CALLERS; i += width) {
    let v = 0;
    let ok = true;
    for (let k = width - 1; k >= 0; k--) {
      const b = bytes[i + k];
      if (b === null) ok = false;
      v = v * 256 + (b ?? 0);
    }
    if (!ok) break;
    const linear = big ? v : (c.seg[1].base + v) >>> 0;
    if (isReturnAddress(rt, linear)) out.push(linear);
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
  if (stop !== null && stop.exit !== undefined && stop.exit.vcpu === vcpu) {
    frames.push({ id: frameId(vcpu, EXIT_SLOT), name: exitFrameName(stop.exit), line: 0, column: 0, presentationHint: 'label', instructionPointerReference: hex(stop.exit.rip) });
  }
  const address = linearIp(rt.vm, vcpu);
  const c = rt.vm.vcpus[vcpu].cpu;
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
