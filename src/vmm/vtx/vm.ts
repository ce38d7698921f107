// A virtual machine: a guest machine, one vCPU with its VMCS, the exit
// handlers and an event stream. `createVm` + `vm.run(n)` is the whole
// interface a command-line runner or the debugger needs.

import { Machine } from '../../x86/machine';
import type { IoBus } from '../../x86/devices/iobus';
import { encodeControls, EXIT_REASON, type ControlSetId } from '../vmx';
import { CpuidTable, type CpuidRegs } from './cpuid';
import { Emitter } from './emitter';
import type { VmExit } from './exit-info';
import { fillHostState } from './guest-state';
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
  private launched = false;
  /** A shutdown or triple fault ends the VM: later runs report the same stop. */
  private ended: VmStop | null = null;
  private exitSequence = 0;
  private runExits = 0;

  constructor(options: VmOptions) {
    this.machine = new Machine({ memorySize: options.memorySize });
    if (options.mode === 'real') this.machine.loadBootSector(options.image);
    else this.machine.loadFlat32(options.image, options.org ?? 0x1000);
    this.bus = options.bus ?? this.machine.io;
    this.cpuid = new CpuidTable(options.cpuid);
    this.stats = new ExitStats(options.costModel);
    this.handlers = { ...DEFAULT_HANDLERS, ...options.handlers };
    this.context = {
      bus: this.bus,
      cpuid: this.cpuid,
      output: (v, bytes, source) => {
        this.output.push(...bytes);
        this.events.emit('output', { vcpu: v.index, bytes, text: String.fromCharCode(...bytes), source });
      },
    };
    const vcpu = new Vcpu(0, this.machine.cpu, (v, e) => this.onExit(v, e), () => ++this.exitSequence);
    vcpu.entered = (v, injected) => this.events.emit('entry', { vcpu: v.index, rip: v.vmcs.get('GUEST_RIP'), injected });
    this.vcpus = [vcpu];
    this.setupVmcs(vcpu);
    options.configure?.(vcpu);
    vcpu.install();
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

  /** Runs the guest for at most `maxInstructions` instructions (the first call performs the VM launch). */
  run(maxInstructions: number): VmStop {
    if (this.ended !== null) {
      const again: VmStop = { ...this.ended, instructions: 0, exits: 0 };
      this.events.emit('stop', again);
      return again;
    }
    const vcpu = this.vcpus[0];
    vcpu.stopAction = null;
    this.runExits = 0;
    if (!this.launched) {
      this.launched = true;
      if (!vcpu.enter() && vcpu.entryFailure !== null) {
        // VMLAUNCH failed: the guest never ran.
        const failed: VmStop = { reason: 'error', message: vcpu.entryFailure.message, instructions: 0, exits: this.runExits, rip: vcpu.vmcs.get('GUEST_RIP'), entryFailure: vcpu.entryFailure };
        this.ended = failed;
        this.events.emit('stop', failed);
        return failed;
      }
    }
    const s = this.machine.run(maxInstructions);
    let action: ExitAction | null = vcpu.stopAction;
    if (action === null && s.reason === 'triple-fault') action = vcpu.tripleFault(s.message);
    const stop: VmStop = action !== null && action.kind === 'stop'
      ? { reason: action.reason, message: action.message, instructions: s.instructions, exits: this.runExits, rip: vcpu.cpu.eip >>> 0, ...(action.code !== undefined ? { code: action.code } : {}) }
      : { reason: machineStop(s.reason), message: s.message, instructions: s.instructions, exits: this.runExits, rip: s.eip };
    if (vcpu.entryFailure !== null) stop.entryFailure = vcpu.entryFailure;
    if (stop.reason === 'shutdown' || stop.reason === 'triple-fault' || stop.reason === 'unhandled-exit' || stop.reason === 'error') this.ended = stop;
    this.events.emit('stop', stop);
    return stop;
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
