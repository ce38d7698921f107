// Multiprocessor start-up: the START_VCPU hypercall (like PSCI CPU_ON) and
// the INIT / start-up IPI exits (3 and 4). An INIT sends a vCPU to
// wait-for-SIPI; a SIPI to a vCPU in that state starts it in real mode at
// vector × 0x1000, as the SDM's MP initialization protocol expects.

import { EXIT_REASON, type VmcsFieldName } from '../vmx';
import type { VcpuRunState } from '../sched';
import type { EntryCheckFailure } from './entry-checks';
import { copyGuestState } from './guest-state';
import type { ExitHandler } from './handlers';
import { HC_EBUSY, HC_EINVAL } from './hypercalls';
import type { Vcpu, VmStopReason } from './vcpu';

/** What the hypercall and the INIT/SIPI handlers may ask of the VM. */
export interface SmpControl {
  /** Starts `target` at `eip` with `esp`, in the caller's mode; 0 or a negative error (hypercalls.ts). */
  startVcpu(caller: Vcpu, target: number, eip: number, esp: number): number;
  /** Ends the caller's time slice. */
  yieldSlice(vcpu: Vcpu): void;
  /** The vCPU leaves the run queue until a SIPI (after INIT). */
  park(vcpu: Vcpu): void;
  /** The vCPU joins the run queue (after SIPI). */
  wake(vcpu: Vcpu): void;
}

/** GUEST_ACTIVITY_STATE values (SDM 25.4.2). */
export const ACTIVITY_ACTIVE = 0;
export const ACTIVITY_WAIT_FOR_SIPI = 3;

/** EDX after INIT: the processor signature (family 6, model 0xF, stepping 1), as the machine's power-on state has it. */
const PROCESSOR_SIGNATURE = 0x6f1;

/** Real-mode segments at a SIPI: CS = vector << 8 (base vector << 12), the others 0, all 64 KiB. */
const SEGMENTS = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'] as const;

/**
 * The state a SIPI with `vector` starts a processor in (SDM "MP Initialization"):
 * real mode, CS:IP = (vector << 8):0000, flags 2, CR0 = 0x60000010 (CD, NW,
 * ET) as after INIT. CR4 keeps only the host-owned VMXE, which the mask hides.
 */
export function startupState(vcpu: Vcpu, vector: number): void {
  const v = vcpu.vmcs;
  const set = (name: VmcsFieldName, value: number): void => v.set(name, value);
  for (const s of SEGMENTS) {
    const selector = s === 'CS' ? (vector & 0xff) << 8 : 0;
    set(`GUEST_${s}_SELECTOR`, selector);
    set(`GUEST_${s}_BASE`, selector << 4);
    set(`GUEST_${s}_LIMIT`, 0xffff);
    set(`GUEST_${s}_AR_BYTES`, s === 'CS' ? 0x9b : 0x93);
  }
  set('GUEST_LDTR_SELECTOR', 0); set('GUEST_LDTR_BASE', 0); set('GUEST_LDTR_LIMIT', 0xffff); set('GUEST_LDTR_AR_BYTES', 0x82);
  set('GUEST_TR_SELECTOR', 0); set('GUEST_TR_BASE', 0); set('GUEST_TR_LIMIT', 0xffff); set('GUEST_TR_AR_BYTES', 0x8b);
  set('GUEST_GDTR_BASE', 0); set('GUEST_GDTR_LIMIT', 0xffff);
  set('GUEST_IDTR_BASE', 0); set('GUEST_IDTR_LIMIT', 0xffff);
  const cr0 = 0x60000010;
  set('GUEST_CR0', cr0);
  set('CR0_READ_SHADOW', cr0);
  set('GUEST_CR3', 0);
  set('GUEST_CR4', v.get('GUEST_CR4') & v.get('CR4_GUEST_HOST_MASK'));
  set('CR4_READ_SHADOW', 0);
  set('GUEST_RIP', 0);
  set('GUEST_RSP', 0);
  set('GUEST_RFLAGS', 2);
  set('GUEST_INTERRUPTIBILITY_INFO', 0);
  set('GUEST_ACTIVITY_STATE', ACTIVITY_ACTIVE);
  const r = vcpu.cpu.r;
  r.fill(0);
  r[2] = PROCESSOR_SIGNATURE;
}

/** Exit 3: INIT. As KVM does, the vCPU goes to wait-for-SIPI; its registers are set when the SIPI comes. */
const initSignal: ExitHandler = (vcpu, _e, ctx) => {
  vcpu.vmcs.set('GUEST_ACTIVITY_STATE', ACTIVITY_WAIT_FOR_SIPI);
  vcpu.vmcs.set('GUEST_INTERRUPTIBILITY_INFO', 0);
  ctx.smp?.park(vcpu);
  return { kind: 'resume' };
};

/** Exit 4: start-up IPI; the qualification holds the vector. */
const sipiSignal: ExitHandler = (vcpu, e, ctx) => {
  startupState(vcpu, e.qualification & 0xff);
  ctx.smp?.wake(vcpu);
  return { kind: 'resume' };
};

export const SMP_HANDLERS: Readonly<Partial<Record<number, ExitHandler>>> = {
  [EXIT_REASON.INIT_SIGNAL]: initSignal,
  [EXIT_REASON.SIPI_SIGNAL]: sipiSignal,
};

/** An INIT or start-up IPI waiting for its target vCPU to recognize it. */
export interface PendingSignal { kind: 'init' | 'sipi'; vector: number; from: number }

/** A stop the recognition of a signal ended the VM with (a failed entry, a handler's stop). */
export interface SignalStop {
  reason: VmStopReason;
  message: string;
  rip: number;
  code?: number;
  entryFailure?: EntryCheckFailure;
}

/** What of the VM the start-up logic works on (vm.ts hands this over). */
export interface SmpHost {
  readonly vcpus: readonly Vcpu[];
  readonly runState: VcpuRunState[];
  /** Per vCPU: its first VM entry has happened. */
  readonly launched: boolean[];
  /** Ends the caller's slice: the scheduler is told and the CPU stops after the VMCALL. */
  yieldSlice(vcpu: Vcpu): void;
}

/** Pending INIT/SIPI signals per vCPU, the START_VCPU hypercall, and their part of snapshots. */
export class SmpSignals {
  readonly signals: PendingSignal[][];
  /** Per vCPU: its guest state was replaced while parked, so its next run enters again. */
  readonly reenter: boolean[];
  /** Signals queued over all vCPUs. */
  count = 0;

  constructor(vcpus: number) {
    this.signals = Array.from({ length: vcpus }, () => []);
    this.reenter = new Array<boolean>(vcpus).fill(false);
  }

  /** Queues a signal at `target`; false when there is no such vCPU. */
  send(target: number, s: PendingSignal): boolean {
    if (!Number.isInteger(target) || target < 0 || target >= this.signals.length) return false;
    this.signals[target].push(s);
    this.count++;
    return true;
  }

  /** Turns pending INIT and SIPI signals into exits 3 and 4, in vCPU then arrival order. */
  recognize(host: SmpHost): SignalStop | null {
    for (const vcpu of host.vcpus) {
      const i = vcpu.index;
      const queue = this.signals[i];
      while (queue.length > 0) {
        const s = queue.shift() as PendingSignal;
        this.count--;
        // A SIPI is only recognized in wait-for-SIPI; otherwise it is lost, as on hardware.
        if (s.kind === 'sipi' && host.runState[i] !== 'wait-for-sipi') continue;
        if (!host.launched[i] || this.reenter[i]) {
          // A vCPU that never ran is entered (in its wait-for-SIPI state) to take the exit.
          host.launched[i] = true;
          this.reenter[i] = false;
          if (!vcpu.enter() && vcpu.entryFailure !== null) return { reason: 'error', message: vcpu.entryFailure.message, rip: vcpu.vmcs.get('GUEST_RIP'), entryFailure: vcpu.entryFailure };
        }
        vcpu.stopAction = null;
        const from = s.from >= 0 ? ` from vCPU ${s.from}` : '';
        const action = s.kind === 'init'
          ? vcpu.exit({ reason: EXIT_REASON.INIT_SIGNAL, why: `INIT signal${from} (a VM exit in VMX non-root operation)` })
          : vcpu.exit({ reason: EXIT_REASON.SIPI_SIGNAL, qualification: s.vector, why: `start-up IPI${from} with vector ${hex2(s.vector)} while in wait-for-SIPI` });
        if (action.kind === 'stop') {
          // The CPU's own stop request would be dropped by its next run: the VM stops here.
          vcpu.cpu.stopRequest = null;
          const stop: SignalStop = { reason: action.reason, message: action.message, rip: vcpu.vmcs.get('GUEST_RIP'), ...(action.code !== undefined ? { code: action.code } : {}) };
          if (vcpu.entryFailure !== null) stop.entryFailure = vcpu.entryFailure;
          return stop;
        }
      }
    }
    return null;
  }

  /** START_VCPU and YIELD for the hypercall handler; INIT/SIPI run-state changes for their handlers. */
  control(host: SmpHost): SmpControl {
    return {
      startVcpu: (caller, target, eip, esp) => {
        if (target >= host.vcpus.length) return HC_EINVAL;
        const st = host.runState[target];
        if (st !== 'wait-for-sipi' && st !== 'stopped') return HC_EBUSY;
        const t = host.vcpus[target];
        // The caller's guest state is current in its VMCS during the exit.
        copyGuestState(caller.vmcs, t.vmcs);
        t.vmcs.set('CR0_READ_SHADOW', caller.vmcs.get('CR0_READ_SHADOW'));
        t.vmcs.set('CR4_READ_SHADOW', caller.vmcs.get('CR4_READ_SHADOW'));
        t.vmcs.set('GUEST_RIP', eip);
        t.vmcs.set('GUEST_RSP', esp);
        t.vmcs.set('GUEST_RFLAGS', 2);
        t.vmcs.set('GUEST_INTERRUPTIBILITY_INFO', 0);
        t.vmcs.set('GUEST_ACTIVITY_STATE', ACTIVITY_ACTIVE);
        t.cpu.r.fill(0);
        t.cpu.r[4] = esp | 0;
        if (host.launched[target]) this.reenter[target] = true;
        host.runState[target] = 'runnable';
        return 0;
      },
      yieldSlice: (vcpu) => host.yieldSlice(vcpu),
      park: (vcpu) => { host.runState[vcpu.index] = 'wait-for-sipi'; },
      wake: (vcpu) => { host.runState[vcpu.index] = 'runnable'; },
    };
  }

  snapshot(): { signals: PendingSignal[][]; reenter: boolean[] } {
    return { signals: this.signals.map((q) => q.map((x) => ({ ...x }))), reenter: [...this.reenter] };
  }

  restore(s: { signals: PendingSignal[][]; reenter: boolean[] }): void {
    this.signals.forEach((q, i) => { q.length = 0; q.push(...(s.signals[i] ?? []).map((x) => ({ ...x }))); });
    s.reenter.forEach((r, i) => { this.reenter[i] = r; });
    this.count = this.signals.reduce((n, q) => n + q.length, 0);
  }
}

const hex2 = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(2, '0')}`;
