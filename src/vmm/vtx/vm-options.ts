// The VM's public vocabulary: what `createVm` takes, what `run` returns, the
// events it emits, and the default controls a new VM's VMCS starts from.

import type { ControlSetId } from '../vmx';
import type { IoBus } from '../../x86/devices/iobus';
import type { CpuidRegs } from './cpuid';
import type { VmExit } from './exit-info';
import type { ExitHandler } from './handlers';
import type { ExitCostModel } from './stats';
import type { Vcpu, VmStopReason } from './vcpu';
import type { EntryCheckFailure } from './entry-checks';
import type { PagingMode, VmMemoryOptions } from './paging-memory';
import type { PlatformOptions } from '../devices/platform';

export interface VmStop {
  /** 'pause': a pause request (`requestPause`) was taken; `vcpu` says whose, `message` is the reason given. */
  reason: VmStopReason | 'limit' | 'breakpoint' | 'pause';
  message: string;
  /** Guest instructions executed by this `run` call, plus the idle time of halted vCPUs (docs/vmm-interrupts.md). */
  instructions: number;
  /** VM exits taken by this `run` call. */
  exits: number;
  rip: number;
  /** Exit code of a shutdown hypercall. */
  code?: number;
  /** The VM-entry check that failed, when the stop is a failed VM entry (reason 'error'). */
  entryFailure?: EntryCheckFailure;
  /** The vCPU a 'pause' stop is for, or the vCPU a `runVcpu` stop ran. */
  vcpu?: number;
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
  /**
   * Number of vCPUs (default 1, at most 16), each with its own VMCS and simulated CPU over the
   * shared memory. vCPU 0 starts at the image's entry; the others wait for SIPI until the guest
   * starts them (START_VCPU hypercall, or INIT + SIPI through `sendInit`/`sendSipi`).
   */
  vcpus?: number;
  /**
   * Simulated physical CPUs the vCPUs are scheduled on (default: one per vCPU, at most 16).
   * Fewer pCPUs than vCPUs makes vCPUs wait in run queues (steal time). See docs/vmm-vcpus.md.
   */
  pcpus?: number;
  /**
   * Guest instructions per time slice (default 10,000). One vCPU on one pCPU is not sliced
   * unless this is given: it runs the whole `run` budget in one go.
   */
  sliceInstructions?: number;
  /** Changes the VMCS (controls, bitmaps, masks) after the defaults are set, before the first entry. */
  configure?: (vcpu: Vcpu) => void;
  /** Cycle cost model of the statistics; default: `defaultCostModel()` of src/vmm/cost (docs/vmm-costs.md). */
  costModel?: ExitCostModel;
  /**
   * Second-level translation (docs/vmm-memory.md). 'ept' (default): the VMM's
   * extended page tables map guest RAM; real-mode guests run as "unrestricted
   * guest". 'shadow': EPT off, the VMM keeps shadow page tables in step with
   * the guest's through CR3/INVLPG/#PF exits (flat32 guests only). 'none':
   * EPT off, no shadow, GPA = HPA with no isolation and no MMIO emulation;
   * without unrestricted guest the guest must enter with CR0.PE and PG set.
   */
  paging?: PagingMode;
  /** Memory slots beyond the RAM at GPA 0, EPT on-demand mapping and the VMM's host reserve (docs/vmm-memory.md). */
  memory?: VmMemoryOptions;
  /**
   * The PC platform devices on the VM's port bus (docs/vmm-interrupts.md): PIC pair, PIT on IRQ 0,
   * 16550 UART on COM1 (its output is VM output with source 'com1'), port 0x61 and the debug-exit
   * port 0x501 (a write stops the VM: reason 'shutdown', code (value << 1) | 1). Default: attached
   * with its default options (100 M guest instructions per second of device time), unless `bus`
   * is given (whoever brings the bus brings its devices); false: none, COM1 stays the capture-only
   * console port.
   */
  platform?: false | PlatformOptions;
  /**
   * Guest instructions between two points where the devices catch up with a vCPU's time and its
   * pending events are looked at, while the PIT counts (default 1000): the most a PIT interrupt
   * waits to be noticed. Exits and LAPIC timer expiries are points too (docs/vmm-interrupts.md).
   */
  eventQuantum?: number;
}

/**
 * KVM-like default controls. CPUID, INVD, XSETBV and the VMX instructions
 * exit unconditionally; on top of that HLT exiting, I/O bitmaps (all ports
 * set, so every port access exits), MSR bitmaps (empty: only MSRs outside the
 * bitmap ranges exit), TSC offsetting, the secondary controls with
 * unrestricted guest and RDTSCP. Pin-based, as KVM sets them: external-
 * interrupt exiting, NMI exiting and virtual NMIs, with "acknowledge
 * interrupt on exit" (the host's vector is in VM_EXIT_INTR_INFO); guest
 * interrupts are injected (docs/vmm-interrupts.md).
 */
export const DEFAULT_CONTROLS: Readonly<Record<ControlSetId, readonly string[]>> = {
  pin: ['INTR_EXITING', 'NMI_EXITING', 'VIRTUAL_NMIS'],
  primary: ['HLT_EXITING', 'USE_TSC_OFFSETTING', 'USE_IO_BITMAPS', 'USE_MSR_BITMAPS', 'SEC_CONTROLS'],
  secondary: ['UNRESTRICTED_GUEST', 'RDTSCP', 'VPID'],
  tertiary: [],
  exit: ['VM_EXIT_ACK_INTR_ON_EXIT'],
  entry: [],
};

/** #UD, #AC and #MC exit by default, as in KVM; everything else goes straight to the guest IDT. */
export const DEFAULT_EXCEPTION_BITMAP = (1 << 6) | (1 << 17) | (1 << 18);
/** CR0.PE, NW, CD, PG are host-owned; CR4.VMXE is host-owned with a shadow of 0 (the guest sees no VMX). */
export const DEFAULT_CR0_MASK = 0xe0000001;
export const DEFAULT_CR4_MASK = 0x00002000;

/** A piece of VM state that whole-VM snapshots save and restore as plain JSON. */
export interface VmStatePart {
  snapshot(): unknown;
  restore(state: unknown): void;
}

export const MAX_VCPUS = 16;
