// Virtualization holes: sensitive instructions that do not trap in ring 1
// (or ring 3) and so do, silently, something other than what the guest
// kernel expects.
// A real VMM never sees them. The simulator watches each one through the
// CPU's interception hooks (which here only observe: every hook returns
// false and the instruction runs natively) and reports what the guest saw
// against what it expected.

import { CS, SS, type Cpu } from '../../x86/cpu/cpu';
import type { CpuIntercept } from '../../x86/cpu/intercept';
import type { Instr } from '../../x86/decode/instr';
import { formatInstr } from '../../x86/disasm/index';
import { EFLAGS_IF, EFLAGS_IOPL, virtualFlags, type VirtualCpuState } from './vcpu-state';

export interface HoleEvent {
  vcpu: number;
  /** Linear address of the instruction. */
  rip: number;
  length: number;
  instruction: string;
  /** What the instruction gave the guest (or left in force). */
  saw: string;
  /** What the guest kernel expected, had it run in ring 0. */
  expected: string;
  /** Why the hardware did it, in words. */
  why: string;
}

const hex = (n: number, w = 8): string => `0x${(n >>> 0).toString(16).toUpperCase().padStart(w, '0')}`;
const flagText = (flags: number): string => `IF=${(flags & EFLAGS_IF) !== 0 ? 1 : 0} IOPL=${(flags >>> 12) & 3}`;

/** Hooks that report holes of a guest kernel deprivileged to `ring` (1 or 3). */
export function holeHooks(v: VirtualCpuState, report: (h: Omit<HoleEvent, 'vcpu'>) => void, ring = 1): CpuIntercept {
  // The engine may offer an observed instruction twice (a block rebuilt around it); one report per executed instruction.
  let last = '';
  const at = (c: Cpu, ins: Instr, len: number, saw: string, expected: string, why: string): void => {
    const key = `${c.seg[CS].base + c.eip}:${c.icount}`;
    if (key === last) return;
    last = key;
    report({ rip: (c.seg[CS].base + c.eip) >>> 0, length: len, instruction: formatInstr(ins, 32), saw, expected, why });
  };
  return {
    pushf: (c, ins, len) => {
      const real = c.getFlags();
      const want = virtualFlags(real, v);
      if (((real ^ want) & (EFLAGS_IF | EFLAGS_IOPL)) !== 0) {
        at(c, ins, len, `pushed ${flagText(real)} (the real flags)`, `${flagText(want)} (its own)`, 'PUSHF does not trap outside ring 0: it pushes the processor\'s IF and IOPL, which the VMM keeps at 1 and 0');
      }
      return false;
    },
    popf: (c, ins, len) => {
      const size = ins.opSize === 16 ? 2 : 4;
      const popped = c.peek(0, size) >>> 0;
      const wantIf = v.cpl <= v.iopl ? (popped & EFLAGS_IF) !== 0 : v.interrupts;
      const wantIopl = v.cpl === 0 ? (popped >>> 12) & 3 : v.iopl;
      if (wantIf !== v.interrupts || wantIopl !== v.iopl) {
        at(c, ins, len, `virtual IF=${v.interrupts ? 1 : 0} IOPL=${v.iopl} kept (the popped IF and IOPL were dropped)`, `IF=${wantIf ? 1 : 0} IOPL=${wantIopl} from the popped ${hex(popped)}`,
          `POPF in ring ${c.cpl} with IOPL ${c.iopl} silently ignores changes to IF and IOPL instead of trapping: the VMM never learns the guest ${wantIf ? 'enabled' : 'disabled'} interrupts`);
      }
      return false;
    },
    iret: (c, ins, len) => {
      if (ins.opSize === 16) return false;
      const cs = c.peek(4, 4) & 0xffff;
      // An IRET to the virtual kernel (RPL 0) traps with #GP and is emulated; only a return to user mode runs natively.
      if ((cs & 3) < c.cpl) return false;
      const flags = c.peek(8, 4) >>> 0;
      const wantIf = v.cpl <= v.iopl ? (flags & EFLAGS_IF) !== 0 : v.interrupts;
      if (ring === 3 && v.cpl === 0 && (cs & 3) === 3) {
        // The kernel already runs in ring 3: its return to user mode is, for the processor, a return within the ring.
        const esp = c.peek(12, 4) >>> 0, ss = c.peek(16, 4) & 0xffff;
        at(c, ins, len, `a return within ring 3: EIP, CS and EFLAGS popped, the frame's ESP ${hex(esp)} and SS ${hex(ss, 4)} left on the kernel stack, IF=${v.interrupts ? 1 : 0} kept; the VMM still takes the guest for its kernel (kernel shadow, kernel privilege)`,
          `a return to user mode: ESP ${hex(esp)} and SS ${hex(ss, 4)} loaded, IF=${wantIf ? 1 : 0} from the popped EFLAGS ${hex(flags)}, and the user task's view of memory`,
          'IRET to a selector of RPL 3 does not trap in ring 3: the processor sees no change of privilege, so nothing tells the VMM the guest left its kernel');
        return false;
      }
      if (wantIf !== v.interrupts) {
        at(c, ins, len, `virtual IF=${v.interrupts ? 1 : 0} kept`, `IF=${wantIf ? 1 : 0} from the popped EFLAGS ${hex(flags)}`,
          `IRET to ring ${cs & 3} does not trap, and in ring ${c.cpl} with IOPL ${c.iopl} it cannot change IF: the guest's interrupt state is lost`);
      }
      return false;
    },
    descTable: (c, ins, len, op) => {
      if (v.cpl !== 0) return false;
      if (op === 'sgdt' || op === 'sidt') {
        const real = op === 'sgdt' ? c.gdtr : c.idtr;
        const want = op === 'sgdt' ? v.gdtr : v.idtr;
        if (real.base !== want.base || real.limit !== want.limit) {
          at(c, ins, len, `base ${hex(real.base)} limit ${hex(real.limit, 4)} (the VMM's table)`, `base ${hex(want.base)} limit ${hex(want.limit, 4)}`, `${op.toUpperCase()} is not privileged: any ring reads the real ${op === 'sgdt' ? 'GDTR' : 'IDTR'}`);
        }
      } else if (op === 'sldt' || op === 'str') {
        const real = op === 'str' ? c.tr.selector : c.ldtr.selector;
        const want = op === 'str' ? v.tr.selector : v.ldtr;
        if (real !== want) at(c, ins, len, `selector ${hex(real, 4)}`, `selector ${hex(want, 4)}`, `${op.toUpperCase()} is not privileged: it reads the VMM's ${op === 'str' ? 'task register' : 'LDTR'}`);
      }
      return false;
    },
    smsw: (c, ins, len) => {
      if (v.cpl !== 0) return false;
      if (((c.cr0 ^ v.cr0) & 0xffff) !== 0) at(c, ins, len, `${hex(c.cr0 & 0xffff, 4)} (the real CR0)`, `${hex(v.cr0 & 0xffff, 4)}`, 'SMSW is not privileged: it reads the low word of the real CR0');
      return false;
    },
    segRead: (c, ins, len, sreg) => {
      if (v.cpl !== 0 || (sreg !== CS && sreg !== SS)) return;
      const sel = c.seg[sreg].selector;
      if ((sel & 3) !== 0) at(c, ins, len, `${sreg === CS ? 'CS' : 'SS'} = ${hex(sel, 4)} (RPL ${sel & 3})`, `${hex(sel & ~3, 4)} (RPL 0)`, `reading ${sreg === CS ? 'CS' : 'SS'} does not trap: its RPL shows the ring the kernel really runs in`);
    },
  };
}
