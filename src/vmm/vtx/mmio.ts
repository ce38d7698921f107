// MMIO emulation: an access to a guest-physical range with no backing (an
// MMIO slot) exits to the VMM, which decodes the guest instruction at
// GUEST_RIP with the machine's own decoder and carries it out against the
// device model: the memory-operand forms drivers use (MOV in both
// directions and from an immediate, MOVZX/MOVSX, the ALU read-modify-write
// forms AND/OR/XOR/ADD/SUB, and CMP/TEST). Flags are computed by the CPU's
// own ALU so they match native execution. Anything else stops the VM with
// the disassembly, as KVM reports an instruction its emulator cannot do.

import { decode, type Instr, type MemOperand, type Operand } from '../../x86/decode';
import { formatInstr } from '../../x86/disasm';
import { ARITH } from '../../x86/cpu/flags';
import type { MmioSlot } from '../memory';
import { hex, type VmMemory } from './paging-memory';
import type { ExitAction, Vcpu } from './vcpu';

/** A device model behind an MMIO slot; offsets are from the slot's first byte. */
export interface MmioDevice {
  read(offset: number, size: 1 | 2 | 4): number;
  write(offset: number, size: 1 | 2 | 4, value: number): void;
}

export interface MmioAccess {
  gpa: number;
  slot: MmioSlot;
  offset: number;
  device: MmioDevice;
}

type Size = 1 | 2 | 4;
type Alu = 'add' | 'sub' | 'and' | 'or' | 'xor' | 'cmp' | 'test';
const ALU = new Set<string>(['add', 'sub', 'and', 'or', 'xor', 'cmp', 'test']);
const MASK: Readonly<Record<Size, number>> = { 1: 0xff, 2: 0xffff, 4: 0xffffffff };

function getReg(vcpu: Vcpu, reg: number, size: Size): number {
  const c = vcpu.cpu;
  if (size === 1) return c.getReg8(reg);
  const v = reg === 4 ? vcpu.vmcs.get('GUEST_RSP') >>> 0 : c.r[reg] >>> 0;
  return size === 2 ? v & 0xffff : v;
}

function setReg(vcpu: Vcpu, reg: number, size: Size, value: number): void {
  const c = vcpu.cpu;
  if (size === 1) { c.setReg8(reg, value & 0xff); return; }
  const old = reg === 4 ? vcpu.vmcs.get('GUEST_RSP') >>> 0 : c.r[reg] >>> 0;
  const v = size === 2 ? ((old & 0xffff0000) | (value & 0xffff)) >>> 0 : value >>> 0;
  c.r[reg] = v | 0;
  if (reg === 4) vcpu.vmcs.set('GUEST_RSP', v);
}

function signExtend(v: number, size: Size): number {
  return size === 1 ? (v << 24) >> 24 : size === 2 ? (v << 16) >> 16 : v | 0;
}

/** Applies an ALU operation with the CPU's flag logic; returns the result (unused for CMP/TEST). */
function alu(vcpu: Vcpu, op: Alu, a: number, b: number, size: Size): number {
  const c = vcpu.cpu;
  const bits = size * 8;
  let r: number;
  switch (op) {
    case 'add': r = c.add(a, b, bits); break;
    case 'sub': case 'cmp': r = c.sub(a, b, bits); break;
    case 'and': case 'test': r = c.logic(a & b, bits); break;
    case 'or': r = c.logic(a | b, bits); break;
    case 'xor': r = c.logic(a ^ b, bits); break;
  }
  const v = vcpu.vmcs;
  v.set('GUEST_RFLAGS', ((v.get('GUEST_RFLAGS') & ~ARITH) | (c.eflags & ARITH)) >>> 0);
  return (r & MASK[size]) >>> 0;
}

/** The value of a register or immediate source operand. */
function source(vcpu: Vcpu, o: Operand, size: Size): number | null {
  if (o.kind === 'reg') return getReg(vcpu, o.reg, o.size);
  if (o.kind === 'imm') return (o.value & MASK[size]) >>> 0;
  return null;
}

/**
 * Emulates the instruction at GUEST_RIP whose memory operand is the MMIO
 * access, advances GUEST_RIP past it and resumes; or stops the VM when the
 * instruction is not one of the emulated forms.
 */
export function emulateMmio(vm: VmMemory, vcpu: Vcpu, access: MmioAccess): ExitAction {
  const v = vcpu.vmcs;
  const rip = v.get('GUEST_RIP') >>> 0;
  const bits = (v.get('GUEST_CS_AR_BYTES') & 0x4000) !== 0 ? 32 : 16;
  const bytes = vm.readLinear(vcpu, (v.get('GUEST_CS_BASE') + rip) >>> 0, 15);
  const at = `at RIP ${hex(rip)} (GPA ${hex(access.gpa)}, MMIO slot "${access.slot.name}" offset ${hex(access.offset)})`;
  if (bytes === null) return { kind: 'stop', reason: 'error', message: `MMIO access ${at}: the instruction bytes cannot be read` };
  const instr = decode(bytes, 0, bits, rip);
  const result = instr.invalid !== undefined || instr.truncated === true || instr.rep !== 0 ? null : execute(vm, vcpu, instr, access);
  if (result === null) return { kind: 'stop', reason: 'error', message: `MMIO instruction not emulated: ${formatInstr(instr, bits)} ${at}` };
  v.set('GUEST_RIP', bits === 32 ? (rip + instr.length) >>> 0 : (rip + instr.length) & 0xffff);
  v.set('GUEST_INTERRUPTIBILITY_INFO', v.get('GUEST_INTERRUPTIBILITY_INFO') & ~3);
  return { kind: 'resume' };
}

/** Carries out one instruction; null when its form is not emulated. */
function execute(vm: VmMemory, vcpu: Vcpu, instr: Instr, access: MmioAccess): true | null {
  const [dst, src] = instr.operands;
  if (dst === undefined || src === undefined || instr.operands.length !== 2) return null;
  const mem = (dst.kind === 'mem' ? dst : src.kind === 'mem' ? src : null) as MemOperand | null;
  if (mem === null || (mem.size !== 1 && mem.size !== 2 && mem.size !== 4)) return null;
  const size: Size = mem.size;
  const dev = access.device;
  const read = (): number => {
    vm.counters.mmioReads++;
    return (dev.read(access.offset, size) & MASK[size]) >>> 0;
  };
  const write = (value: number): void => {
    vm.counters.mmioWrites++;
    dev.write(access.offset, size, (value & MASK[size]) >>> 0);
  };
  const m = instr.mnemonic;
  if (m === 'mov') {
    if (dst.kind === 'mem') {
      const value = source(vcpu, src, size);
      if (value === null) return null;
      write(value);
      return true;
    }
    if (dst.kind !== 'reg') return null;
    setReg(vcpu, dst.reg, dst.size, read());
    return true;
  }
  if (m === 'movzx' || m === 'movsx') {
    if (dst.kind !== 'reg' || src.kind !== 'mem') return null;
    const value = read();
    setReg(vcpu, dst.reg, dst.size, m === 'movzx' ? value : signExtend(value, size) >>> 0);
    return true;
  }
  if (ALU.has(m)) {
    const op = m as Alu;
    if (dst.kind === 'mem') {
      const b = source(vcpu, src, size);
      if (b === null) return null;
      const r = alu(vcpu, op, read(), b, size);
      if (op !== 'cmp' && op !== 'test') write(r);
      return true;
    }
    if (dst.kind !== 'reg') return null;
    const r = alu(vcpu, op, getReg(vcpu, dst.reg, dst.size), read(), size);
    if (op !== 'cmp' && op !== 'test') setReg(vcpu, dst.reg, dst.size, r);
    return true;
  }
  return null;
}
