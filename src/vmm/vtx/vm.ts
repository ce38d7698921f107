// A virtual machine: a guest machine, one vCPU with its VMCS, the exit
// handlers and an event stream. `createVm` + `vm.run(n)` is the whole
// interface a command-line runner or the debugger needs.

import { Machine, type StopInfo } from '../../x86/machine';
import type { Cpu } from '../../x86/cpu/cpu';
import type { Engine } from '../../x86/cpu/engine';
import type { IoBus } from '../../x86/devices/iobus';
import { encodeControls, EXIT_REASON, type ControlSetId } from '../vmx';
import { CpuidTable, type CpuidRegs } from './cpuid';
import { Emitter } from './emitter';
import type { VmExit } from './exit-info';
import { copyGuestState, fillHostState, loadGuestState } from './guest-state';
import { DEFAULT_HANDLERS, type ExitHandler, type HandlerContext } from './handlers';
import { ExitStats, type ExitCostModel, type ExitDetail } from './stats';
import { Vcpu, type ExitAction, type VmStopReason } from './vcpu';
import type { EntryCheckFailure } from './entry-checks';

export interface VmStop {
  reason: VmStopReason | 'limit' | 'breakpoint';
  message: string;
  /** Guest instructions executed by this `run` call. */
  instructions: number;
  /** VM exits taken by this `run` call. */
  exits: number;
  rip: number;
  /** Exit code of a shutdown hypercall. */
  code?: number;
  /** The VM-entry check that failed, when the stop is a failed VM entry (reason 'error'). */
  entryFailure?: EntryCheckFailure;
}

export interface VmEvents {
  exit: VmExit;
  entry: { vcpu: number; rip: number; injected: number };
  stop: VmStop;
  output: { vcpu: number; bytes: number[]; text: string; source: string };
}

export interface VmOptions {
  /** The guest image, loaded as the bare machine loads it. */
  image: Uint8Array;
  /** 'flat32' (default): 32-bit flat protected mode at `org`; 'real': a boot sector at 0x7C00 (unrestricted guest). */
  mode?: 'flat32' | 'real';
  /** Load address for flat32 (default 0x1000). */
  org?: number;
  memorySize?: number;
  /** The port bus the I/O handler forwards to; default: the machine's own bus (console ports). */
  bus?: IoBus;
  /** CPUID leaves that replace the defaults. */
  cpuid?: Readonly<Record<number, CpuidRegs>>;
  /** Handlers that replace the defaults for their exit reasons. */
  handlers?: Readonly<Partial<Record<number, ExitHandler>>>;
  /** Number of vCPUs (default 1, at most 16); vCPUs other than 0 start parked in wait-for-SIPI. */
  vcpus?: number;
  /** Instructions a vCPU runs before the next runnable vCPU gets its turn (default 10,000). */
  sliceInstructions?: number;
  /** Changes the VMCS (controls, bitmaps, masks) after the defaults are set, before the first entry. */
  configure?: (vcpu: Vcpu) => void;
  costModel?: ExitCostModel;
}

/**
 * KVM-like default controls. CPUID, INVD, XSETBV and the VMX instructions
 * exit unconditionally; on top of that HLT exiting, I/O bitmaps (all ports
 * set, so every port access exits), MSR bitmaps (empty: only MSRs outside the
 * bitmap ranges exit), TSC offsetting, the secondary controls with
 * unrestricted guest and RDTSCP.
 */
export const DEFAULT_CONTROLS: Readonly<Record<ControlSetId, readonly string[]>> = {
  pin: [],
  primary: ['HLT_EXITING', 'USE_TSC_OFFSETTING', 'USE_IO_BITMAPS', 'USE_MSR_BITMAPS', 'SEC_CONTROLS'],
  secondary: ['UNRESTRICTED_GUEST', 'RDTSCP'],
  tertiary: [],
  exit: [],
  entry: [],
};

/** #UD, #AC and #MC exit by default, as in KVM; everything else goes straight to the guest IDT. */
export const DEFAULT_EXCEPTION_BITMAP = (1 << 6) | (1 << 17) | (1 << 18);
/** CR0.PE, NW, CD, PG are host-owned; CR4.VMXE is host-owned with a shadow of 0 (the guest sees no VMX). */
export const DEFAULT_CR0_MASK = 0xe0000001;
export const DEFAULT_CR4_MASK = 0x00002000;

/** Host-physical addresses the VMCS shows for the bitmap pages (they live in host memory, see bitmaps.ts). */
const BITMAP_ADDRESSES = { IO_BITMAP_A: 0x1f400000, IO_BITMAP_B: 0x1f401000, MSR_BITMAP: 0x1f402000 } as const;

/** A piece of VM state that whole-VM snapshots save and restore as plain JSON. */
export interface VmStatePart {
  snapshot(): unknown;
  restore(state: unknown): void;
}

/** Why a vCPU is or is not running. */
export type VcpuRunState = 'runnable' | 'halted' | 'wait-for-sipi' | 'stopped';

export const MAX_VCPUS = 16;
const DEFAULT_SLICE = 10_000;
/** GUEST_ACTIVITY_STATE values (SDM 25.4.2). */
const ACTIVITY_WAIT_FOR_SIPI = 3;

export class Vm {
  readonly machine: Machine;
  readonly vcpus: Vcpu[];
  readonly events = new Emitter<VmEvents>();
  readonly stats: ExitStats;
  readonly cpuid: CpuidTable;
  readonly bus: IoBus;
  /** Everything the guest wrote to the console through hypercalls and console ports, in order. */
  readonly output: number[] = [];
  private readonly handlers: Partial<Record<number, ExitHandler>>;
  private readonly context: HandlerContext;
  /** Per vCPU: has its first VM entry (VMLAUNCH) happened. */
  private readonly launched: boolean[] = [];
  /** A shutdown or triple fault ends the VM: later runs report the same stop. */
  private ended: VmStop | null = null;
  private exitSequence = 0;
  private runExits = 0;

  /** The simulated processor each vCPU runs on (index = vCPU index); vCPU 0 uses the machine's own. */
  readonly processors: { cpu: Cpu; engine: Engine }[];
  /** Why each vCPU is not running, or 'runnable'. */
  readonly runState: VcpuRunState[];
  /** Instructions per scheduling slice when several vCPUs share the run budget. */
  readonly sliceInstructions: number;
  private nextVcpu = 0;

  constructor(options: VmOptions) {
    this.machine = new Machine({ memorySize: options.memorySize });
    if (options.mode === 'real') this.machine.loadBootSector(options.image);
    else this.machine.loadFlat32(options.image, options.org ?? 0x1000);
    this.bus = options.bus ?? this.machine.io;
    this.cpuid = new CpuidTable(options.cpuid);
    this.stats = new ExitStats(options.costModel);
    this.handlers = { ...DEFAULT_HANDLERS, ...options.handlers };
    this.sliceInstructions = options.sliceInstructions ?? DEFAULT_SLICE;
    this.context = {
      bus: this.bus,
      cpuid: this.cpuid,
      output: (v, bytes, source) => {
        this.output.push(...bytes);
        this.events.emit('output', { vcpu: v.index, bytes, text: String.fromCharCode(...bytes), source });
      },
    };
    const count = options.vcpus ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > MAX_VCPUS) throw new RangeError(`vcpus must be an integer from 1 to ${MAX_VCPUS} (got ${count})`);
    this.processors = [{ cpu: this.machine.cpu, engine: this.machine.engine }];
    for (let i = 1; i < count; i++) this.processors.push(this.machine.addProcessor());
    this.vcpus = [];
    this.runState = [];
    for (let i = 0; i < count; i++) {
      const vcpu = new Vcpu(i, this.processors[i].cpu, (v, e) => this.onExit(v, e), () => ++this.exitSequence);
      vcpu.entered = (v, injected) => this.events.emit('entry', { vcpu: v.index, rip: v.vmcs.get('GUEST_RIP'), injected });
      this.vcpus.push(vcpu);
      if (i > 0) {
        // Application processors start from the boot processor's loaded state, parked in
        // wait-for-SIPI until the guest starts them (see the START_VCPU hypercall).
        copyGuestState(this.vcpus[0].vmcs, vcpu.vmcs);
        loadGuestState(vcpu.cpu, vcpu.vmcs);
      }
      this.setupVmcs(vcpu);
      if (i > 0) vcpu.vmcs.set('GUEST_ACTIVITY_STATE', ACTIVITY_WAIT_FOR_SIPI);
      this.runState.push(i === 0 ? 'runnable' : 'wait-for-sipi');
      options.configure?.(vcpu);
      vcpu.install();
    }
  }

  /** The VMCS as a VMM would prepare it: guest state from the loaded machine, KVM-like controls. */
  private setupVmcs(vcpu: Vcpu): void {
    const v = vcpu.vmcs;
    vcpu.saveState();
    fillHostState(v, vcpu.index);
    // Host data selectors must have RPL 0 (SDM 27.2.3): KVM on a 32-bit host uses __KERNEL_DS.
    v.set('HOST_DS_SELECTOR', 0x68);
    v.set('HOST_ES_SELECTOR', 0x68);
    // CR4.VMXE is fixed to 1 in VMX operation; the CR4 mask and read shadow below hide it from the guest.
    v.set('GUEST_CR4', v.get('GUEST_CR4') | DEFAULT_CR4_MASK);
    v.set('PIN_BASED_VM_EXEC_CONTROL', encodeControls('pin', DEFAULT_CONTROLS.pin));
    v.set('CPU_BASED_VM_EXEC_CONTROL', encodeControls('primary', DEFAULT_CONTROLS.primary));
    v.set('SECONDARY_VM_EXEC_CONTROL', encodeControls('secondary', DEFAULT_CONTROLS.secondary));
    v.set('VM_EXIT_CONTROLS', encodeControls('exit', DEFAULT_CONTROLS.exit));
    v.set('VM_ENTRY_CONTROLS', encodeControls('entry', DEFAULT_CONTROLS.entry));
    v.set('EXCEPTION_BITMAP', DEFAULT_EXCEPTION_BITMAP);
    v.set('CR0_GUEST_HOST_MASK', DEFAULT_CR0_MASK);
    v.set('CR0_READ_SHADOW', v.get('GUEST_CR0'));
    v.set('CR4_GUEST_HOST_MASK', DEFAULT_CR4_MASK);
    v.set('CR4_READ_SHADOW', v.get('GUEST_CR4') & ~DEFAULT_CR4_MASK);
    for (const [name, addr] of Object.entries(BITMAP_ADDRESSES)) v.set(name as keyof typeof BITMAP_ADDRESSES, addr);
    v.set('VMCS_LINK_POINTER', 0xffffffffffffffffn);
    vcpu.ioBitmaps.a.fill(0xff);
    vcpu.ioBitmaps.b.fill(0xff);
  }

  /**
   * Runs the guest for at most `maxInstructions` instructions in total over
   * all vCPUs (the first entry of each vCPU is its VM launch). With one vCPU
   * the budget runs in one go; with several, runnable vCPUs take turns in
   * slices of `sliceInstructions`, in index order, so every run is
   * deterministic.
   */
  run(maxInstructions: number): VmStop {
    if (this.ended !== null) {
      const again: VmStop = { ...this.ended, instructions: 0, exits: 0 };
      this.events.emit('stop', again);
      return again;
    }
    this.runExits = 0;
    let done = 0;
    let last: VmStop | null = null;
    while (done < maxInstructions) {
      const index = this.pickNext();
      if (index < 0) {
        last = this.idleStop(done);
        break;
      }
      const vcpu = this.vcpus[index];
      const budget = this.vcpus.length === 1 ? maxInstructions - done : Math.min(this.sliceInstructions, maxInstructions - done);
      const r = this.runSlice(vcpu, budget);
      done += r.instructions;
      if (r.kind === 'continue') continue;
      last = { ...r.stop, instructions: done, exits: this.runExits };
      break;
    }
    if (last === null) last = { reason: 'limit', message: `instruction limit ${maxInstructions} reached`, instructions: done, exits: this.runExits, rip: this.vcpus[0].cpu.eip >>> 0 };
    if (last.reason === 'shutdown' || last.reason === 'triple-fault' || last.reason === 'unhandled-exit' || last.reason === 'error') this.ended = last;
    this.events.emit('stop', last);
    return last;
  }

  /** The next vCPU to run (round-robin over runnable vCPUs), or -1 when none can run. */
  private pickNext(): number {
    const n = this.vcpus.length;
    for (let k = 0; k < n; k++) {
      const i = (this.nextVcpu + k) % n;
      if (this.runState[i] === 'runnable') {
        this.nextVcpu = (i + 1) % n;
        return i;
      }
    }
    return -1;
  }

  /** Nothing is runnable: every vCPU is halted (or parked) with nothing that can wake it. */
  private idleStop(done: number): VmStop {
    const halted = this.vcpus.findIndex((_, i) => this.runState[i] === 'halted');
    const v = this.vcpus[halted < 0 ? 0 : halted];
    return { reason: 'hlt', message: this.lastHaltMessage ?? 'every vCPU is halted', instructions: done, exits: this.runExits, rip: v.cpu.eip >>> 0 };
  }

  private lastHaltMessage: string | null = null;

  /**
   * Parts of the VM whose state a whole-VM snapshot must carry beyond the
   * machine and the vCPUs (devices, EPT or shadow tables' bookkeeping, the
   * scheduler…). Each registers once, under a unique name, a pair of plain-JSON
   * snapshot/restore functions.
   */
  private readonly stateParts = new Map<string, VmStatePart>();

  registerState(name: string, part: VmStatePart): void {
    if (this.stateParts.has(name)) throw new Error(`VM state part "${name}" registered twice`);
    this.stateParts.set(name, part);
  }

  /** Events (interrupts, NMIs, timers) due for `vcpu` before it runs a slice. */
  private deliverEvents(_vcpu: Vcpu): void {
    // Interrupt and device virtualization plugs in here.
  }

  /**
   * A 'vmexit' stop of the CPU (raised from inside an instruction, e.g. by the
   * EPT translator) becomes a VM exit here. Returns the handler's action, or
   * null when the stop was not a VM exit this VMM knows.
   */
  private vmexitStop(_vcpu: Vcpu, _s: StopInfo): ExitAction | null {
    return null;
  }

  /** Runs one vCPU for up to `budget` instructions. */
  private runSlice(vcpu: Vcpu, budget: number): { kind: 'continue'; instructions: number } | { kind: 'stop'; instructions: number; stop: Omit<VmStop, 'instructions' | 'exits'> } {
    const i = vcpu.index;
    vcpu.stopAction = null;
    if (!this.launched[i]) {
      this.launched[i] = true;
      if (!vcpu.enter() && vcpu.entryFailure !== null) {
        // VMLAUNCH failed: the guest never ran.
        return { kind: 'stop', instructions: 0, stop: { reason: 'error', message: vcpu.entryFailure.message, rip: vcpu.vmcs.get('GUEST_RIP'), entryFailure: vcpu.entryFailure } };
      }
    }
    this.deliverEvents(vcpu);
    const s = this.processors[i].engine.run(Math.max(0, Math.floor(budget)));
    let action: ExitAction | null = vcpu.stopAction;
    if (action === null && s.reason === 'vmexit') {
      action = this.vmexitStop(vcpu, s);
      if (action === null) return { kind: 'stop', instructions: s.instructions, stop: { reason: 'error', message: `unexpected VM exit stop: ${s.message}`, rip: s.eip } };
      if (action.kind !== 'stop') return { kind: 'continue', instructions: s.instructions };
    }
    if (action === null && s.reason === 'triple-fault') action = vcpu.tripleFault(s.message);
    if (action !== null && action.kind === 'stop') {
      if (action.reason === 'hlt' && this.vcpus.length > 1) {
        this.runState[i] = 'halted';
        this.lastHaltMessage = action.message;
        return { kind: 'continue', instructions: s.instructions };
      }
      const stop: Omit<VmStop, 'instructions' | 'exits'> = { reason: action.reason, message: action.message, rip: vcpu.cpu.eip >>> 0, ...(action.code !== undefined ? { code: action.code } : {}) };
      if (vcpu.entryFailure !== null) stop.entryFailure = vcpu.entryFailure;
      return { kind: 'stop', instructions: s.instructions, stop };
    }
    if (s.reason === 'limit') return { kind: 'continue', instructions: s.instructions };
    if (s.reason === 'hlt' && this.vcpus.length > 1) {
      this.runState[i] = 'halted';
      this.lastHaltMessage = `vCPU ${i}: ${s.message}`;
      return { kind: 'continue', instructions: s.instructions };
    }
    const stop: Omit<VmStop, 'instructions' | 'exits'> = { reason: machineStop(s.reason), message: s.message, rip: s.eip };
    if (vcpu.entryFailure !== null) stop.entryFailure = vcpu.entryFailure;
    return { kind: 'stop', instructions: s.instructions, stop };
  }

  private onExit(vcpu: Vcpu, exit: VmExit): ExitAction {
    this.runExits++;
    const c = vcpu.cpu;
    const detail: ExitDetail = {};
    if (exit.reason === EXIT_REASON.CPUID) detail.cpuidLeaf = c.r[0] >>> 0;
    if (exit.reason === EXIT_REASON.MSR_READ || exit.reason === EXIT_REASON.MSR_WRITE) detail.msr = c.r[1] >>> 0;
    this.stats.record(exit, detail);
    this.events.emit('exit', exit);
    // A failed VM entry (exit 33) ends the VM; no handler can resume a guest that was never entered.
    if ((exit.reason === EXIT_REASON.INVALID_STATE || exit.reason === EXIT_REASON.MSR_LOAD_FAIL) && vcpu.entryFailure !== null) return { kind: 'stop', reason: 'error', message: vcpu.entryFailure.message };
    const handler = this.handlers[exit.reason];
    if (handler === undefined) return { kind: 'stop', reason: 'unhandled-exit', message: `no handler for exit ${exit.reason} (${exit.name})` };
    return handler(vcpu, exit, this.context);
  }

}

/** The machine's own stop reasons; a stop this VM did not ask for is reported as an error. */
function machineStop(reason: string): VmStop['reason'] {
  const known: readonly VmStop['reason'][] = ['hlt', 'triple-fault', 'limit', 'breakpoint', 'shutdown', 'error'];
  return known.find((k) => k === reason) ?? 'error';
}

export function createVm(options: VmOptions): Vm {
  return new Vm(options);
}
