// One VM exit as a line of text: the layout of `hyperstep run --trace exits`
// and of the examples' golden traces (examples/*/expected-exits.txt), so what
// a student sees on the command line is what a grader compares.

import { decodeInterruptionInfo } from '../vmx';
import type { VmExit } from './exit-info';
import type { Vm } from './vm';

const hex = (n: number, width = 8): string => '0x' + (n >>> 0).toString(16).toUpperCase().padStart(width, '0');

/**
 * Sequence, vCPU, reason number and name, RIP, qualification and its
 * decoding, instruction length; the fields that are non-zero for this exit
 * (instruction information, linear and physical address, interruption and
 * IDT-vectoring information with error codes); the guest register the exit
 * is about (`note`, see `exitRegisterNote`); after a dash, what decided the exit.
 */
export function formatExitLine(e: VmExit, note = ''): string {
  const parts = [`#${e.sequence}`, `vcpu${e.vcpu}`, String(e.reason), e.name, `rip=${hex(e.rip)}`, `qual=${hex(e.qualification)}`];
  // Exception exits have no qualification layout; their interruption information says what happened.
  const summary = e.summary || ((e.interruptionInfo & 0x80000000) !== 0 ? decodeInterruptionInfo(e.interruptionInfo).summary : '');
  if (summary !== '') parts.push(`(${summary})`);
  parts.push(`len=${e.instructionLength}`);
  if (e.instructionInfo !== 0) parts.push(`info=${hex(e.instructionInfo)}`);
  if (e.guestLinearAddress !== undefined && e.guestLinearAddress !== 0) parts.push(`gla=${hex(e.guestLinearAddress)}`);
  if (e.guestPhysicalAddress !== undefined && e.guestPhysicalAddress !== 0) parts.push(`gpa=${hex(e.guestPhysicalAddress)}`);
  if (e.interruptionInfo !== 0) parts.push(`intr=${hex(e.interruptionInfo)}`);
  if ((e.interruptionInfo & 0x800) !== 0) parts.push(`err=${hex(e.interruptionErrorCode, 4)}`);
  if (e.idtVectoringInfo !== 0) parts.push(`idt=${hex(e.idtVectoringInfo)}`, `idt_err=${hex(e.idtVectoringErrorCode, 4)}`);
  if (note !== '') parts.push(note);
  return `${parts.join(' ')} — ${e.why || '-'}`;
}

/**
 * The guest register an exit is about, read while the exit is reported (the
 * CPU still holds the guest's registers): the CPUID leaf, the MSR, the
 * hypercall number. The exit-information fields do not carry them.
 */
export function exitRegisterNote(vm: Vm, e: VmExit): string {
  const r = vm.vcpus[e.vcpu].cpu.r;
  if (e.reason === 10) return `leaf=${hex(r[0])}`;
  if (e.reason === 31 || e.reason === 32) return `msr=${hex(r[1])}`;
  if (e.reason === 18) return `hypercall=${r[0] >>> 0}`;
  return '';
}
