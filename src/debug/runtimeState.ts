// Reading a vCPU's state for the debugger: the linear instruction pointer,
// the stack pointer, registers and flags by name, guest memory through the
// three address spaces (guest-virtual, guest-physical, host-physical), and
// the expression context conditions and the debug console evaluate in.

import type { Vm, VmExit } from '../vmm/vtx/index';
import { fieldByName, type VmcsFieldName } from '../vmm/vmx/index';
import { translateGva } from '../vmm/memory/translate';
import type { ExprContext } from './expr';
import { exitFieldValue } from './runtimeExits';

const REG32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const REG16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const REG8 = ['al', 'cl', 'dl', 'bl', 'ah', 'ch', 'dh', 'bh'];
const SEGS = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];
/** EFLAGS bits by flag name. */
export const FLAG_BITS: Readonly<Record<string, number>> = { cf: 0, pf: 2, af: 4, zf: 6, sf: 7, tf: 8, if: 9, df: 10, of: 11, nt: 14, rf: 16, vm: 17, ac: 18 };

export function linearIp(vm: Vm, vcpu: number): number {
  const c = vm.vcpus[vcpu].cpu;
  return (c.seg[1].base + c.eip) >>> 0;
}

/** ESP, or SP with a 16-bit stack segment. */
export function stackPointer(vm: Vm, vcpu: number): number {
  const c = vm.vcpus[vcpu].cpu;
  const big = (c.cr0 & 1) !== 0 && (c.seg[2].attr & 0x4000) !== 0;
  return big ? c.r[4] >>> 0 : c.r[4] & 0xffff;
}

/** A register or flag by lower-case name; undefined for an unknown name. */
export function readRegister(vm: Vm, vcpu: number, name: string): number | undefined {
  const c = vm.vcpus[vcpu]?.cpu;
  if (c === undefined) return undefined;
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
  return undefined;
}

/** Names readRegister knows, for completion. */
export const REGISTER_NAMES: readonly string[] = [...REG32, 'eip', 'eflags', ...REG16, 'ip', 'flags', ...REG8, ...SEGS, 'cr0', 'cr2', 'cr3', 'cr4', 'cpl', ...Object.keys(FLAG_BITS), 'dr0', 'dr1', 'dr2', 'dr3', 'dr6', 'dr7'];

export type AddressSpace = 'gva' | 'gpa' | 'hpa';

/** The host-physical address of one guest address, or null when nothing backs it. */
export function hostAddress(vm: Vm, vcpu: number, space: AddressSpace, address: number): number | null {
  const a = address >>> 0;
  if (space === 'hpa') return a < vm.machine.memory.size ? a : null;
  if (space === 'gva') return vm.translate(vcpu, a).hpa;
  // Guest-physical: the same walk with the guest's paging off, through EPT and the slots.
  const m = vm.memory;
  const target = { mem: vm.machine.memory, ept: m.ept?.tables ?? null, slots: m.mode === 'none' ? null : m.slots };
  return translateGva(target, { cr0: 0, cr3: 0, cr4: 0 }, a, { access: 'read', user: false }).hpa;
}

/** Bytes from an address space; `null` entries are unreadable. */
export function readBytes(vm: Vm, vcpu: number, space: AddressSpace, address: number, count: number): (number | null)[] {
  const out: (number | null)[] = [];
  const mem = vm.machine.memory;
  let page = -1;
  let base: number | null = null;
  for (let i = 0; i < count; i++) {
    const a = (address + i) >>> 0;
    if (a >>> 12 !== page) {
      page = a >>> 12;
      base = hostAddress(vm, vcpu, space, page << 12);
    }
    const h = base === null ? null : base + (a & 0xfff);
    out.push(h !== null && h < mem.size && mem.isBacked(h) ? mem.read8(h) : null);
  }
  return out;
}

/** Writes bytes; returns how many were written before the first unwritable one. */
export function writeBytes(vm: Vm, vcpu: number, space: AddressSpace, address: number, bytes: Uint8Array): number {
  const mem = vm.machine.memory;
  for (let i = 0; i < bytes.length; i++) {
    const h = hostAddress(vm, vcpu, space, (address + i) >>> 0);
    if (h === null || h >= mem.size || !mem.isBacked(h)) return i;
    mem.write8(h, bytes[i]);
  }
  return bytes.length;
}

export function exprContext(vm: Vm, vcpu: number, exit: VmExit | undefined): ExprContext {
  return {
    register: (name) => readRegister(vm, vcpu, name),
    readMemory: (address, size) => {
      const bytes = readBytes(vm, vcpu, 'gva', address, size);
      let v = 0;
      for (let i = size - 1; i >= 0; i--) {
        const b = bytes[i];
        if (b === null) throw new Error(`address 0x${((address + i) >>> 0).toString(16)} is not mapped`);
        v = v * 256 + b;
      }
      return v;
    },
    vmcs: (field) => {
      const f = fieldByName(field);
      if (f === undefined) throw new Error(`no VMCS field '${field}'`);
      return vm.vcpus[vcpu].vmcs.get(f.name as VmcsFieldName);
    },
    exitField: (name) => exitFieldValue(vm, exit, name),
  };
}
