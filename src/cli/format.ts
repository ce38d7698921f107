// Text formatting shared by the CLI commands.
import { EFLAGS_BITS, setBitNames } from '../x86/cpu/register-bits';
import type { Machine } from '../x86/machine';

export function hex(n: number, width = 0): string {
  const s = (n >>> 0).toString(16).toUpperCase();
  return '0x' + (width > 0 ? s.padStart(width, '0') : s);
}

export function hex8(n: number): string {
  return (n >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

export function hex4(n: number): string {
  return (n & 0xffff).toString(16).toUpperCase().padStart(4, '0');
}

export function bytesToText(bytes: number[]): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

export function flagsText(eflags: number): string {
  const set = setBitNames(EFLAGS_BITS, eflags);
  set.push(`IOPL=${(eflags >>> 12) & 3}`);
  return set.join(' ');
}

/** A register dump in the style of a debugger's `info registers`. */
export function registerDump(machine: Machine): string {
  const s = machine.state();
  const lines = [
    `EAX=${hex8(s.eax)} EBX=${hex8(s.ebx)} ECX=${hex8(s.ecx)} EDX=${hex8(s.edx)}`,
    `ESI=${hex8(s.esi)} EDI=${hex8(s.edi)} EBP=${hex8(s.ebp)} ESP=${hex8(s.esp)}`,
    `EIP=${hex8(s.eip)} EFLAGS=${hex8(s.eflags)} [${flagsText(s.eflags)}] CPL=${s.cpl} ${s.mode} mode`,
    `CS=${hex4(s.cs)} DS=${hex4(s.ds)} ES=${hex4(s.es)} FS=${hex4(s.fs)} GS=${hex4(s.gs)} SS=${hex4(s.ss)}`,
    `CR0=${hex8(s.cr0)} CR2=${hex8(s.cr2)} CR3=${hex8(s.cr3)} CR4=${hex8(s.cr4)}`,
  ];
  return lines.join('\n');
}
