// Reading a vCPU's state for the debugger: the linear instruction pointer,
// the stack pointer, registers and flags by name, guest memory through the
// three address spaces (guest-virtual, guest-physical, host-physical), and
// the expression context conditions and the debug console evaluate in.

import { fieldByName, type VmcsFieldName } from '../vmm/vmx/index';
import type { ExprContext } from './expr';
import { eventFieldValue, eventTextField } from './runtimeEvents';
import type { AddressSpace, DebugTarget, TargetEvent } from './target';

export type { AddressSpace } from './target';

const REG32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const REG16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const REG8 = ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'];
const SEGS = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];
/** EFLAGS bits by flag name. */
export const FLAG_BITS: Readonly<Record<string, number>> = { cf: 0, pf: 2, af: 4, zf: 6, sf: 7, tf: 8, if: 9, df: 10, of: 11, nt: 14, rf: 16, vm: 17, ac: 18 };

export function linearIp(target: DebugTarget, vcpu: number): number {
  const c = target.cpu(vcpu);
  return (c.seg[1].base + c.eip) >>> 0;
}

/** ESP, or SP with a 16-bit stack segment. */
export function stackPointer(target: DebugTarget, vcpu: number): number {
  const c = target.cpu(vcpu);
  const big = (c.cr0 & 1) !== 0 && (c.seg[2].attr & 0x4000) !== 0;
  return big ? c.r[4] >>> 0 : c.r[4] & 0xffff;
}

/** A register or flag by lower-case name; undefined for an unknown name. */
export function readRegister(target: DebugTarget, vcpu: number, name: string): number | undefined {
  if (vcpu < 0 || vcpu >= target.vcpuCount) return undefined;
  const c = target.cpu(vcpu);
  let i = REG32.indexOf(name);
  if (i >= 0) return c.r[i] >>> 0;
  i = REG16.indexOf(name);
  if (i >= 0) return c.r[i] & 0xffff;
  i = REG8.indexOf(name);
  if (i >= 0) return i < 4 ? c.r[i] & 0xff : (c.r[i - 4] >>> 8) & 0xff;
  i = SEGS.indexOf(name);
  if (i >= 0) return c.seg[i].selector;
  const bit = Object.prototype.hasOwnProperty.call(FLAG_BITS, name) ? FLAG_BITS[name] : undefined;
  if (bit !== undefined) return (c.eflags >>> bit) & 1;
  switch (name) {
    case 'eip':
      return c.eip >>> 0;
    case 'ip':
      return c.eip & 0xffff;
    case 'eflags':
    case 'flags':
      return c.eflags >>> 0;
    case 'cr0':
      return c.cr0 >>> 0;
    case 'cr2':
      return c.cr2 >>> 0;
    case 'cr3':
      return c.cr3 >>> 0;
    case 'cr4':
      return c.cr4 >>> 0;
    case 'cpl':
      return (c.cr0 & 1) === 0 ? 0 : c.seg[1].selector & 3;
    default:
      break;
  }
  const dr = /^dr([0-7])$/.exec(name);
  if (dr !== null) return c.dr[Number(dr[1])] >>> 0;
  return target.soft === null ? undefined : virtualRegister(target, name);
}

/** Under a software technique, the guest's own view of the privileged state (the Virtual CPU scope). */
function virtualRegister(target: DebugTarget, name: string): number | undefined {
  const v = target.soft?.v;
  if (v === undefined) return undefined;
  switch (name) {
    case 'vif':
      return v.interrupts ? 1 : 0;
    case 'viopl':
      return v.iopl;
    case 'vcpl':
      return v.cpl;
    case 'vcr0':
      return v.cr0 >>> 0;
    case 'vcr2':
      return v.cr2 >>> 0;
    case 'vcr3':
      return v.cr3 >>> 0;
    case 'vcr4':
      return v.cr4 >>> 0;
    default:
      return undefined;
  }
}

/** Names of the virtual CPU's state under a software technique. */
export const VIRTUAL_REGISTER_NAMES: readonly string[] = ['vif', 'viopl', 'vcpl', 'vcr0', 'vcr2', 'vcr3', 'vcr4'];

/** Names readRegister knows, for completion. */
export const REGISTER_NAMES: readonly string[] = [...REG32, 'eip', 'eflags', ...REG16, 'ip', 'flags', ...REG8, ...SEGS, 'cr0', 'cr2', 'cr3', 'cr4', 'cpl', ...Object.keys(FLAG_BITS), 'dr0', 'dr1', 'dr2', 'dr3', 'dr6', 'dr7'];

/** The host-physical address of one guest address, or null when nothing backs it. */
export function hostAddress(target: DebugTarget, vcpu: number, space: AddressSpace, address: number): number | null {
  return target.hostAddress(vcpu, space, address);
}

/** Bytes from an address space; `null` entries are unreadable. */
export function readBytes(target: DebugTarget, vcpu: number, space: AddressSpace, address: number, count: number): (number | null)[] {
  const out: (number | null)[] = [];
  const mem = target.memory;
  let page = -1;
  let base: number | null = null;
  for (let i = 0; i < count; i++) {
    const a = (address + i) >>> 0;
    if (a >>> 12 !== page) {
      page = a >>> 12;
      base = target.hostAddress(vcpu, space, page << 12);
    }
    const h = base === null ? null : base + (a & 0xfff);
    out.push(h !== null && h < mem.size && mem.isBacked(h) ? mem.read8(h) : null);
  }
  return out;
}

/** Writes bytes; returns how many were written before the first unwritable one. */
export function writeBytes(target: DebugTarget, vcpu: number, space: AddressSpace, address: number, bytes: Uint8Array): number {
  const mem = target.memory;
  for (let i = 0; i < bytes.length; i++) {
    const h = target.hostAddress(vcpu, space, (address + i) >>> 0);
    if (h === null || h >= mem.size || !mem.isBacked(h)) return i;
    mem.write8(h, bytes[i]);
  }
  return bytes.length;
}

/** The expression context at a vCPU; `event` is the exit, hole or trap the vCPU is stopped at, if any. */
export function exprContext(target: DebugTarget, vcpu: number, event: TargetEvent | undefined): ExprContext {
  return {
    register: (name) => readRegister(target, vcpu, name),
    readMemory: (address, size) => {
      const bytes = readBytes(target, vcpu, 'gva', address, size);
      let v = 0;
      for (let i = size - 1; i >= 0; i--) {
        const b = bytes[i];
        if (b === null) throw new Error(`address 0x${((address + i) >>> 0).toString(16)} is not mapped`);
        v = v * 256 + b;
      }
      return v;
    },
    vmcs: (field) => {
      const vm = target.vtx;
      if (vm === null) throw new Error(`no VMCS: the guest runs under ${target.technique}, without VMX`);
      const f = fieldByName(field);
      if (f === undefined) throw new Error(`no VMCS field '${field}'`);
      return vm.vcpus[vcpu].vmcs.get(f.name as VmcsFieldName);
    },
    exitField: (name) => eventFieldValue(target, event, name),
    textField: (name) => eventTextField(target, event, name),
  };
}
