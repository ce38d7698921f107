// Root-mode exit handlers, one small function per implemented exit reason,
// after what KVM does for the same exit. Each returns what the vCPU should do
// next: resume (GUEST_RIP already advanced or an event injected), let the CPU
// carry out the instruction itself, or stop the VM.

import type { IoBus } from '../../x86/devices/iobus';
import { EXIT_REASON, decodeCrAccess, decodeIoQualification } from '../vmx';
import type { CpuidTable } from './cpuid';
import { guestStateMsrField } from './guest-state';
import type { VmExit } from './exit-info';
import { CONSOLE_WRITE_MAX, HC_EINVAL, HC_ENOSYS, HC_EPERM, HYPERCALL } from './hypercalls';
import type { ExitAction, Vcpu } from './vcpu';
import type { SmpControl } from './smp';

export interface HandlerContext {
  bus: IoBus;
  cpuid: CpuidTable;
  /** Bytes the guest wrote to the console through a hypercall or a console port. */
  output(vcpu: Vcpu, bytes: number[], source: string): void;
  /** vCPU start-up and yielding (smp.ts); without it START_VCPU returns -KVM_ENOSYS and YIELD does nothing. */
  smp?: SmpControl;
  /** Ports whose OUT bytes the I/O handler reports as output (default: COM1, 0xE9, LPT1; a VM with a UART on COM1 reports that itself). */
  consolePorts?: ReadonlySet<number>;
  /** Can anything wake this halted vCPU (a pending event, a running timer)? Default: only an interrupt already queued in the CPU. */
  canWake?(vcpu: Vcpu): boolean;
}

export type ExitHandler = (vcpu: Vcpu, exit: VmExit, ctx: HandlerContext) => ExitAction;

const RESUME: ExitAction = { kind: 'resume' };
const EMULATE: ExitAction = { kind: 'emulate' };

const EXC_UD = 6;
const EXC_GP = 13;
const HARDWARE_EXCEPTION = 3;

/** Ports whose OUT bytes are console output (COM1 data, the 0xE9 debug port, LPT1 data). */
const CONSOLE_PORTS = new Set([0x3f8, 0xe9, 0x378]);

/** GPR write that keeps GUEST_RSP in step (ESP lives in the VMCS, the others in the CPU). */
function setGpr(vcpu: Vcpu, n: number, value: number): void {
  vcpu.cpu.r[n] = value | 0;
  if (n === 4) vcpu.vmcs.set('GUEST_RSP', value >>> 0);
}
function gpr(vcpu: Vcpu, n: number): number {
  return n === 4 ? vcpu.vmcs.get('GUEST_RSP') >>> 0 : vcpu.cpu.r[n] >>> 0;
}

function skip(vcpu: Vcpu): ExitAction {
  vcpu.skipInstruction();
  return RESUME;
}

function injectGp(vcpu: Vcpu): ExitAction {
  vcpu.inject(EXC_GP, HARDWARE_EXCEPTION, 0);
  return RESUME;
}

const cpuid: ExitHandler = (vcpu, _e, ctx) => {
  const r = vcpu.cpu.r;
  const regs = ctx.cpuid.lookup(r[0] >>> 0, r[1] >>> 0);
  r[0] = regs.eax; r[3] = regs.ebx; r[1] = regs.ecx; r[2] = regs.edx;
  return skip(vcpu);
};

/**
 * HLT: as KVM, the vCPU blocks in root mode (activity state HLT in the VMCS)
 * while device time passes, until an event can be injected; the entry that
 * injects it makes the vCPU active again. With nothing able to wake it, the
 * VM stops.
 */
const hlt: ExitHandler = (vcpu, _e, ctx) => {
  vcpu.skipInstruction();
  const c = vcpu.cpu;
  vcpu.vmcs.set('GUEST_ACTIVITY_STATE', 1);
  if (ctx.canWake?.(vcpu) === true) {
    // Blocked in root mode until an event arrives; the VM enters it again then, injecting the event.
    vcpu.blocked = true;
    return RESUME;
  }
  const wakeable = c.nmiPending || (c.irqQueue.length > 0 && (vcpu.vmcs.get('GUEST_RFLAGS') & 0x200) !== 0);
  if (wakeable) return RESUME;
  return { kind: 'stop', reason: 'hlt', message: `vCPU ${vcpu.index} halted with ${(vcpu.vmcs.get('GUEST_RFLAGS') & 0x200) !== 0 ? 'no interrupt pending' : 'interrupts disabled'}` };
};

const invlpg: ExitHandler = (vcpu, e) => {
  vcpu.cpu.mmu.invalidatePage(e.qualification);
  vcpu.cpu.linGen++;
  return skip(vcpu);
};

function putTsc(vcpu: Vcpu): void {
  const t = vcpu.guestTsc();
  setGpr(vcpu, 0, Number(t & 0xffffffffn)); setGpr(vcpu, 2, Number(t >> 32n));
}

const rdtsc: ExitHandler = (vcpu) => {
  putTsc(vcpu);
  return skip(vcpu);
};

const rdtscp: ExitHandler = (vcpu) => {
  putTsc(vcpu);
  setGpr(vcpu, 1, Number((vcpu.cpu.msrs.read(0xc0000103) ?? 0n) & 0xffffffffn)); // IA32_TSC_AUX
  return skip(vcpu);
};

/** Without nested virtualization, VMX instructions in the guest raise #UD, as KVM does. */
const vmxInstruction: ExitHandler = (vcpu) => {
  vcpu.inject(EXC_UD, HARDWARE_EXCEPTION);
  return RESUME;
};

const vmcall: ExitHandler = (vcpu, _e, ctx) => {
  const c = vcpu.cpu;
  const nr = c.r[0] >>> 0;
  vcpu.skipInstruction();
  if (c.cpl !== 0) { setGpr(vcpu, 0, HC_EPERM); return RESUME; }
  switch (nr) {
    case HYPERCALL.CONSOLE_WRITE: {
      const addr = c.r[3] >>> 0, len = c.r[1] >>> 0;
      if (len > CONSOLE_WRITE_MAX) { setGpr(vcpu, 0, HC_EINVAL); return RESUME; }
      const bytes: number[] = [];
      for (let i = 0; i < len; i++) bytes.push(c.mem.read8((addr + i) >>> 0));
      ctx.output(vcpu, bytes, 'hypercall');
      setGpr(vcpu, 0, len);
      return RESUME;
    }
    case HYPERCALL.YIELD:
      setGpr(vcpu, 0, 0);
      ctx.smp?.yieldSlice(vcpu);
      return RESUME;
    case HYPERCALL.START_VCPU:
      setGpr(vcpu, 0, ctx.smp === undefined ? HC_ENOSYS : ctx.smp.startVcpu(vcpu, c.r[3] >>> 0, c.r[1] >>> 0, c.r[2] >>> 0));
      return RESUME;
    case HYPERCALL.READ_TIME: {
      const t = vcpu.guestTsc();
      setGpr(vcpu, 0, Number(t & 0xffffffffn)); setGpr(vcpu, 2, Number(t >> 32n));
      return RESUME;
    }
    case HYPERCALL.SHUTDOWN: {
      const code = c.r[3] | 0;
      setGpr(vcpu, 0, 0);
      return { kind: 'stop', reason: 'shutdown', message: `guest shut down with code ${code}`, code };
    }
    default:
      setGpr(vcpu, 0, HC_ENOSYS);
      return RESUME;
  }
};

/** CR0.PG, PE and WP: changing one flushes the whole TLB (SDM Vol. 3A, 4.10.4.1). */
const CR0_PAGING_BITS = 0x80010001;
/** CR4.PSE, PAE and PGE: changing one flushes the whole TLB, global entries included. */
const CR4_PAGING_BITS = 0x000000b0;

/** CR accesses that the masks or CR3 controls turned into exits: the guest's view goes to the read shadow. */
const crAccess: ExitHandler = (vcpu, e) => {
  const q = decodeCrAccess(e.qualification);
  const v = vcpu.vmcs;
  switch (q.accessType) {
    case 'mov-to-cr': {
      const value = gpr(vcpu, q.gpr);
      // The guest's own MOV to CR would have flushed its TLB (SDM Vol. 3A, 4.10.4.1); with a VPID its
      // translations survive the exit and the entry, so the VMM that emulates the write flushes them,
      // as KVM flushes the current VPID after an emulated CR3 load.
      if (q.cr === 0) {
        if ((value & 0x80000000) !== 0 && (value & 1) === 0) return injectGp(vcpu); // PG without PE
        if ((value & 0x20000000) !== 0 && (value & 0x40000000) === 0) return injectGp(vcpu); // NW without CD
        const changed = (v.get('GUEST_CR0') ^ value) & CR0_PAGING_BITS;
        v.set('GUEST_CR0', (value | 0x10) >>> 0);
        v.set('CR0_READ_SHADOW', value);
        if (changed !== 0) vcpu.cpu.mmu.flush(true);
      } else if (q.cr === 4) {
        // Bits this CPU has (VME PVI TSD DE PSE MCE PGE PCE OSFXSR OSXMMEXCPT) but not PAE, nor VMXE: no nested VMX.
        if ((value & ~0x01df) !== 0) return injectGp(vcpu);
        const changed = (v.get('GUEST_CR4') ^ value) & CR4_PAGING_BITS;
        v.set('GUEST_CR4', value);
        v.set('CR4_READ_SHADOW', value);
        if (changed !== 0) vcpu.cpu.mmu.flush(true);
      } else if (q.cr === 3) {
        v.set('GUEST_CR3', value);
        // Global pages stay cached, as on a real CR3 load.
        vcpu.cpu.mmu.flush(false);
      } else {
        return { kind: 'stop', reason: 'unhandled-exit', message: `MOV to CR${q.cr} exit not handled` };
      }
      return skip(vcpu);
    }
    case 'mov-from-cr':
      if (q.cr !== 3) return { kind: 'stop', reason: 'unhandled-exit', message: `MOV from CR${q.cr} exit not handled` };
      setGpr(vcpu, q.gpr, v.get('GUEST_CR3'));
      return skip(vcpu);
    case 'clts':
      v.set('GUEST_CR0', v.get('GUEST_CR0') & ~8);
      v.set('CR0_READ_SHADOW', v.get('CR0_READ_SHADOW') & ~8);
      return skip(vcpu);
    case 'lmsw': {
      // LMSW loads MP, EM, TS and can set but not clear PE.
      const apply = (old: number): number => ((old & ~0xe) | (q.lmswSource & 0xf) | (old & 1)) >>> 0;
      v.set('GUEST_CR0', apply(v.get('GUEST_CR0')));
      v.set('CR0_READ_SHADOW', apply(v.get('CR0_READ_SHADOW')));
      return skip(vcpu);
    }
  }
};

const io: ExitHandler = (vcpu, e, ctx) => {
  const q = decodeIoQualification(e.qualification);
  // String I/O is left to the CPU, which walks the buffer through its own port bus.
  if (q.string) return EMULATE;
  const size = q.size as 1 | 2 | 4;
  const r = vcpu.cpu.r;
  if (q.direction === 'in') {
    const value = ctx.bus.in(q.port, size);
    if (size === 4) r[0] = value; else if (size === 2) vcpu.cpu.r16[0] = value; else vcpu.cpu.r8[0] = value;
  } else {
    const value = size === 4 ? r[0] >>> 0 : size === 2 ? vcpu.cpu.r16[0] : vcpu.cpu.r8[0];
    ctx.bus.out(q.port, size, value);
    if ((ctx.consolePorts ?? CONSOLE_PORTS).has(q.port) && size === 1) ctx.output(vcpu, [value], `port ${q.port.toString(16).toUpperCase()}h`);
  }
  return skip(vcpu);
};

const rdmsr: ExitHandler = (vcpu) => {
  const c = vcpu.cpu;
  const idx = c.r[1] >>> 0;
  const value = idx === 0x10 ? vcpu.guestTsc() : c.msrs.read(idx);
  if (value === undefined) return injectGp(vcpu);
  setGpr(vcpu, 0, Number(value & 0xffffffffn)); setGpr(vcpu, 2, Number((value >> 32n) & 0xffffffffn));
  return skip(vcpu);
};

const wrmsr: ExitHandler = (vcpu) => {
  const c = vcpu.cpu;
  const idx = c.r[1] >>> 0;
  const value = (BigInt(c.r[2] >>> 0) << 32n) | BigInt(c.r[0] >>> 0);
  if (idx === 0x10) {
    // A guest TSC write moves the CPU's offset so the guest reads back what it wrote.
    const offset = vcpu.control('primary', 'USE_TSC_OFFSETTING') ? BigInt.asIntN(64, vcpu.vmcs.getBig('TSC_OFFSET')) : 0n;
    c.tscOffset = value - offset - BigInt(c.icount);
    return skip(vcpu);
  }
  if (!c.msrs.write(idx, value)) return injectGp(vcpu);
  const field = guestStateMsrField(idx);
  if (field !== undefined) vcpu.vmcs.set(field, value);
  return skip(vcpu);
};

const xsetbv: ExitHandler = (vcpu) => {
  const c = vcpu.cpu;
  // Only XCR0 exists, and its bit 0 (x87) must stay set.
  if ((c.r[1] >>> 0) !== 0 || (c.r[0] & 1) === 0 || (c.r[2] | 0) !== 0) return injectGp(vcpu);
  c.xcr0 = c.r[0] >>> 0;
  return skip(vcpu);
};

/** Reflects an intercepted exception back into the guest, as KVM does for the ones it does not fix up. */
const exception: ExitHandler = (vcpu, e) => {
  const vector = e.interruptionInfo & 0xff;
  const type = (e.interruptionInfo >>> 8) & 7;
  if (type === 2) return RESUME; // a host NMI (NMI exiting): the host handled it, the guest never sees it
  const hasCode = (e.interruptionInfo & 0x800) !== 0;
  if (vector === 14) vcpu.cpu.cr2 = e.qualification; // the exit leaves CR2 to the VMM
  vcpu.inject(vector, type, hasCode ? e.interruptionErrorCode : -1, e.instructionLength);
  return RESUME;
};

/** Exit 1: the host took its interrupt (acknowledged on exit or not); pending guest events are injected on the way back in. */
const externalInterrupt: ExitHandler = () => RESUME;

/** Exits 7 and 8: the window is open; the control is cleared and the entry injects the waiting event (KVM's handle_interrupt_window). */
const interruptWindow: ExitHandler = (vcpu) => {
  vcpu.setControl('primary', 'INTR_WINDOW_EXITING', false);
  return RESUME;
};
const nmiWindow: ExitHandler = (vcpu) => {
  vcpu.setControl('primary', 'NMI_WINDOW_EXITING', false);
  return RESUME;
};

/** Exit 37: the VMM-level single step. The monitor trap flag stays set; clearing it is the debugger's (or a replaced handler's) choice. */
const monitorTrap: ExitHandler = () => RESUME;

/**
 * Exit 52: the timer is one-shot here (the control is cleared, with "save VMX-preemption timer
 * value", which needs it) so the guest is not stopped again at once; a scheduler re-arms it.
 */
const preemptionTimer: ExitHandler = (vcpu) => {
  vcpu.setControl('pin', 'PREEMPTION_TIMER', false);
  vcpu.setControl('exit', 'VM_EXIT_SAVE_VMX_PREEMPTION_TIMER', false);
  return RESUME;
};

const tripleFault: ExitHandler = (vcpu, e) =>
  ({ kind: 'stop', reason: 'triple-fault', message: `vCPU ${vcpu.index}: ${e.why}` });

export const DEFAULT_HANDLERS: Readonly<Partial<Record<number, ExitHandler>>> = {
  [EXIT_REASON.EXCEPTION_NMI]: exception,
  [EXIT_REASON.EXTERNAL_INTERRUPT]: externalInterrupt,
  [EXIT_REASON.TRIPLE_FAULT]: tripleFault,
  [EXIT_REASON.INTERRUPT_WINDOW]: interruptWindow,
  [EXIT_REASON.NMI_WINDOW]: nmiWindow,
  [EXIT_REASON.MONITOR_TRAP_FLAG]: monitorTrap,
  [EXIT_REASON.PREEMPTION_TIMER]: preemptionTimer,
  [EXIT_REASON.CPUID]: cpuid,
  [EXIT_REASON.GETSEC]: vmxInstruction,
  [EXIT_REASON.HLT]: hlt,
  [EXIT_REASON.INVD]: skip,
  [EXIT_REASON.INVLPG]: invlpg,
  [EXIT_REASON.RDPMC]: () => EMULATE,
  [EXIT_REASON.RDTSC]: rdtsc,
  [EXIT_REASON.VMCALL]: vmcall,
  [EXIT_REASON.VMCLEAR]: vmxInstruction,
  [EXIT_REASON.VMLAUNCH]: vmxInstruction,
  [EXIT_REASON.VMPTRLD]: vmxInstruction,
  [EXIT_REASON.VMPTRST]: vmxInstruction,
  [EXIT_REASON.VMREAD]: vmxInstruction,
  [EXIT_REASON.VMRESUME]: vmxInstruction,
  [EXIT_REASON.VMWRITE]: vmxInstruction,
  [EXIT_REASON.VMOFF]: vmxInstruction,
  [EXIT_REASON.VMON]: vmxInstruction,
  [EXIT_REASON.CR_ACCESS]: crAccess,
  [EXIT_REASON.DR_ACCESS]: () => EMULATE,
  [EXIT_REASON.IO_INSTRUCTION]: io,
  [EXIT_REASON.MSR_READ]: rdmsr,
  [EXIT_REASON.MSR_WRITE]: wrmsr,
  [EXIT_REASON.MWAIT_INSTRUCTION]: skip, // KVM treats MONITOR/MWAIT as NOPs
  [EXIT_REASON.MONITOR_INSTRUCTION]: skip,
  [EXIT_REASON.PAUSE_INSTRUCTION]: skip,
  [EXIT_REASON.GDTR_IDTR]: () => EMULATE,
  [EXIT_REASON.LDTR_TR]: () => EMULATE,
  [EXIT_REASON.INVEPT]: vmxInstruction,
  [EXIT_REASON.RDTSCP]: rdtscp,
  [EXIT_REASON.INVVPID]: vmxInstruction,
  [EXIT_REASON.WBINVD]: skip,
  [EXIT_REASON.XSETBV]: xsetbv,
};
