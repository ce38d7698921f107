// A virtual machine: a guest machine, one vCPU with its VMCS, the exit
// handlers and an event stream. `createVm` + `vm.run(n)` is the whole
// interface a command-line runner needs; a debugger adds `requestPause`
// (stop after an exit it saw) and `runVcpu` (step one vCPU).

import { Machine, type StopInfo } from '../../x86/machine';
import type { Cpu } from '../../x86/cpu/cpu';
import type { Engine } from '../../x86/cpu/engine';
import type { IoBus } from '../../x86/devices/iobus';
import { encodeControls, EXIT_REASON, type ControlSetId } from '../vmx';
import { CpuidTable, type CpuidRegs } from './cpuid';
import { VmEmitter } from './vm-emitter';
import { DEFAULT_CONTROLS, DEFAULT_CR0_MASK, DEFAULT_CR4_MASK, DEFAULT_EXCEPTION_BITMAP, MAX_VCPUS, type VmEvents, type VmOptions, type VmStatePart, type VmStop } from './vm-options';
import type { VmExit } from './exit-info';
import { copyGuestState, fillHostState, loadGuestState } from './guest-state';
import { DEFAULT_HANDLERS, type ExitHandler, type HandlerContext } from './handlers';
import { ExitStats, type ExitCostModel, type ExitDetail } from './stats';
import { defaultCostModel } from '../cost/model';
import { Vcpu, type ExitAction } from './vcpu';

export { DEFAULT_CONTROLS, DEFAULT_CR0_MASK, DEFAULT_CR4_MASK, DEFAULT_EXCEPTION_BITMAP, MAX_VCPUS } from './vm-options';
export type { VmEvents, VmOptions, VmStatePart, VmStop } from './vm-options';
import type { EntryCheckFailure } from './entry-checks';
import { VmMemory, memoryLayout, type PagingMode, type TranslateOptions, type VmMemoryOptions, type VmTranslation } from './paging-memory';
import type { MmioDevice } from './mmio';
import type { MmioSlot } from '../memory';
import { Scheduler, TraceHash, type VcpuRunState } from '../sched';
import { SMP_HANDLERS, ACTIVITY_ACTIVE, SmpSignals, type PendingSignal, type SmpHost } from './smp';
import { takeSnapshot, applySnapshot, type VmSnapshot, type VmSnapshotSource } from './snapshot';
import { PcPlatform, type PlatformOptions, type PlatformState } from '../devices/platform';
import { LocalApic, APIC_BASE_ADDRESS, type LapicState, type IpiMessage } from '../devices/lapic';
import { VcpuEvents, VmInterrupts, type PendingEvents, type VcpuEventsState } from './events';

/** Stops after which the VM cannot go on: later runs report the same stop. */
const ENDING: ReadonlySet<VmStop['reason']> = new Set(['shutdown', 'triple-fault', 'unhandled-exit', 'error']);

/** Host-physical addresses the VMCS shows for the bitmap pages (they live in host memory, see bitmaps.ts). */
const BITMAP_ADDRESSES = { IO_BITMAP_A: 0x1f400000, IO_BITMAP_B: 0x1f401000, MSR_BITMAP: 0x1f402000 } as const;

export type { VcpuRunState } from '../sched';
export type { VmSnapshot } from './snapshot';

const DEFAULT_SLICE = 10_000;
/** GUEST_ACTIVITY_STATE values (SDM 25.4.2). */
const ACTIVITY_WAIT_FOR_SIPI = 3;
/** The CPU stop a YIELD hypercall requests to end the caller's slice (not a halt). */
const YIELD_STOP = 'yield: end of time slice';
export type { PendingSignal } from './smp';

export class Vm {
  readonly machine: Machine;
  readonly vcpus: Vcpu[];
  readonly events = new VmEmitter();
  readonly stats: ExitStats;
  readonly cpuid: CpuidTable;
  readonly bus: IoBus;
  /** Everything the guest wrote to the console through hypercalls and console ports, in order. */
  readonly output: number[] = [];
  /** By exit reason (basic exit reasons are small numbers: an array, not a dictionary, on every exit). */
  private readonly handlers: (ExitHandler | undefined)[];
  private readonly context: HandlerContext;
  /** Per vCPU: has its first VM entry (VMLAUNCH) happened. */
  private readonly launched: boolean[] = [];
  /** A shutdown or triple fault ends the VM: later runs report the same stop. */
  private ended: VmStop | null = null;
  private exitSequence = 0;
  private runExits = 0;

  /** The PC platform devices (PIC pair, PIT, UART, port 0x61, debug exit), or null with `platform: false`. */
  readonly platform: PcPlatform | null;
  /** One local APIC per vCPU (index = vCPU index, APIC ID = index), at 0xFEE00000 in each vCPU's view. */
  readonly lapics: LocalApic[] = [];
  /** Pending events and the event-aware run loop (events.ts). */
  readonly interrupts: VmInterrupts;

  /** The simulated processor each vCPU runs on (index = vCPU index); vCPU 0 uses the machine's own. */
  readonly processors: { cpu: Cpu; engine: Engine }[];
  /** Why each vCPU is not running, or 'runnable'. */
  readonly runState: VcpuRunState[];
  /** Instructions per scheduling slice (0: not sliced, one vCPU on one pCPU). */
  readonly sliceInstructions: number;
  /** The vCPU scheduler: run queues per pCPU, slices, accounting (`scheduler.view()` for a debugger). */
  readonly scheduler: Scheduler;
  /** FNV-1a 64 over every exit so far (see `traceHash()`). */
  private readonly trace = new TraceHash();
  /** INIT/SIPI signals not yet recognized and START_VCPU (smp.ts). */
  private readonly smp: SmpSignals;
  /** The vCPU whose YIELD requested the current CPU stop, or -1. */
  private yieldStop = -1;

  constructor(options: VmOptions) {
    // Host memory: guest RAM at GPA 0 (identity), then the VMM's own region (EPT and shadow tables, extra slots).
    const layout = memoryLayout(options.memorySize, options.memory);
    this.machine = new Machine({ memorySize: layout.hostLimit });
    if (options.mode === 'real') this.machine.loadBootSector(options.image);
    else this.machine.loadFlat32(options.image, options.org ?? 0x1000);
    this.bus = options.bus ?? this.machine.io;
    this.cpuid = new CpuidTable(options.cpuid);
    this.stats = new ExitStats(options.costModel ?? defaultCostModel());
    this.memory = new VmMemory(this.machine, options.paging ?? 'ept', layout, options.memory ?? {}, options.mode === 'real');
    const base = { ...DEFAULT_HANDLERS, ...SMP_HANDLERS };
    const handlers: Partial<Record<number, ExitHandler>> = { ...base, ...this.memory.handlers(base), ...options.handlers };
    this.handlers = [];
    for (const [reason, handler] of Object.entries(handlers)) this.handlers[Number(reason)] = handler;
    this.registerState('memory', { snapshot: () => this.memory.snapshot(), restore: (st) => this.memory.restore(st) });
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
      vcpu.entered = (v, injected) => {
        if (this.events.has('entry')) this.events.emit('entry', { vcpu: v.index, rip: v.vmcs.get('GUEST_RIP'), injected });
      };
      this.vcpus.push(vcpu);
      if (i > 0) {
        // Application processors start from the boot processor's loaded state, parked in
        // wait-for-SIPI until the guest starts them (see the START_VCPU hypercall).
        copyGuestState(this.vcpus[0].vmcs, vcpu.vmcs);
        loadGuestState(vcpu.cpu, vcpu.vmcs);
      }
      this.setupVmcs(vcpu);
      this.memory.setupVcpu(vcpu);
      if (i > 0) vcpu.vmcs.set('GUEST_ACTIVITY_STATE', ACTIVITY_WAIT_FOR_SIPI);
      this.runState.push(i === 0 ? 'runnable' : 'wait-for-sipi');
      options.configure?.(vcpu);
      this.memory.finishVcpu(vcpu);
      vcpu.install();
    }
    const pcpus = options.pcpus ?? count;
    if (!Number.isInteger(pcpus) || pcpus < 1 || pcpus > MAX_VCPUS) throw new RangeError(`pcpus must be an integer from 1 to ${MAX_VCPUS} (got ${pcpus})`);
    const slice = options.sliceInstructions;
    if (slice !== undefined && (!Number.isInteger(slice) || slice < 1)) throw new RangeError(`sliceInstructions must be a positive integer (got ${slice})`);
    // One vCPU alone on one pCPU has nobody to share with: unsliced, it runs each budget in one go.
    this.sliceInstructions = slice ?? (count === 1 && pcpus === 1 ? 0 : DEFAULT_SLICE);
    this.scheduler = new Scheduler({ vcpus: count, pcpus, slice: this.sliceInstructions, initial: this.runState });
    this.smp = new SmpSignals(count);
    this.context.smp = this.smp.control(this.smpHost());
    const platform = options.platform ?? (options.bus === undefined ? {} : false);
    this.platform = platform === false ? null : new PcPlatform(platform);
    this.interrupts = new VmInterrupts(this.platform, options.eventQuantum);
    this.setupEvents(platform === false ? 100_000_000 : platform.instructionsPerSecond ?? 100_000_000, platform === false ? undefined : platform.onSerialOutput);
  }

  /**
   * Interrupt and device virtualization (docs/vmm-interrupts.md): the platform
   * on the port bus, a local APIC and a pending-event queue per vCPU, the
   * handlers' view of them, and their parts of whole-VM snapshots.
   */
  private setupEvents(instructionsPerSecond: number, onSerialOutput: ((byte: number) => void) | undefined): void {
    const current = (): Vcpu => this.interrupts.current ?? this.vcpus[0];
    const p = this.platform;
    if (p !== null) {
      p.attach(this.bus);
      p.uart.onTransmit = (byte) => {
        this.context.output(current(), [byte], 'com1');
        onSerialOutput?.(byte);
      };
      p.debugExit.onExit = (code) => {
        const v = current();
        const message = `debug-exit port: the guest wrote ${p.debugExit.value ?? 0}, exit status ${code}`;
        v.stopAction = { kind: 'stop', reason: 'shutdown', message, code };
        v.cpu.requestStop('shutdown', message);
      };
      const virtio = p.virtio;
      if (virtio !== null) {
        // The device reads its rings and buffers by guest-physical address; guest RAM is identity-mapped in host memory.
        const mem = this.machine.memory;
        virtio.memory = { size: this.memory.layout.ramSize, read8: (a) => mem.read8(a), write8: (a, v) => mem.write8(a, v) };
        const previous = virtio.onOutput;
        virtio.onOutput = (bytes) => {
          this.context.output(current(), bytes, 'virtio');
          previous?.(bytes);
        };
      }
      // COM1 output now comes from the UART itself; the I/O handler reports the other console ports.
      this.context.consolePorts = new Set([0xe9, 0x378]);
      this.registerState('platform', { snapshot: () => p.snapshot(), restore: (st) => p.restore(st as PlatformState) });
    }
    for (const vcpu of this.vcpus) {
      const lapic = new LocalApic(vcpu.index);
      lapic.onIpi = (ipi) => this.routeIpi(vcpu.index, ipi);
      this.lapics.push(lapic);
      const ev = new VcpuEvents(vcpu, lapic, vcpu.index === 0 && p !== null ? p.pic : null, instructionsPerSecond);
      this.interrupts.add(ev);
      vcpu.eventHooks = ev;
    }
    this.context.canWake = (v) => this.interrupts.canWake(v.index);
    if (this.memory.mode !== 'none') {
      // One page for every vCPU's APIC: an access reaches the APIC of the vCPU that makes it.
      this.mapMmio('lapic', APIC_BASE_ADDRESS, 0x1000, {
        read: (offset, size) => {
          const value = this.lapics[current().index].read(offset & ~3);
          return size === 4 ? value : (value >>> ((offset & 3) * 8)) & (size === 2 ? 0xffff : 0xff);
        },
        write: (offset, _size, value) => this.lapics[current().index].write(offset & ~3, value),
      });
    }
    this.registerState('lapics', { snapshot: () => this.lapics.map((l) => l.snapshot()), restore: (st) => (st as LapicState[]).forEach((l, i) => this.lapics[i].restore(l)) });
    this.registerState('events', {
      snapshot: () => this.interrupts.vcpus.map((e) => e.snapshot()),
      restore: (st) => (st as VcpuEventsState[]).forEach((e, i) => this.interrupts.vcpus[i].restore(e)),
    });
  }

  /** IPIs a local APIC does not deliver to itself alone: fixed and NMI ones reach the other vCPUs' APICs; INIT and SIPI go to the start-up logic. */
  private routeIpi(from: number, ipi: IpiMessage): void {
    // The sender's own APIC already took a fixed IPI addressed to it; only an NMI to itself is left (below).
    const targeted = (l: LocalApic, j: number): boolean => {
      if (j === from || ipi.shorthand === 1) return false;
      if (ipi.shorthand === 2 || ipi.shorthand === 3) return true;
      if (ipi.destination === 0xff) return true;
      return ipi.logical ? ((l.state.ldr >>> 24) & ipi.destination) !== 0 : ipi.destination === l.state.id;
    };
    this.lapics.forEach((l, j) => {
      if (!targeted(l, j)) return;
      switch (ipi.deliveryMode) {
        case 0: case 1: l.acceptInterrupt(ipi.vector, ipi.triggerLevel); break;
        case 4: this.interrupts.vcpus[j].queueNmi(); break;
        case 5: this.sendInit(j, from); break;
        case 6: this.sendSipi(j, ipi.vector, from); break;
        default: return;
      }
      if (this.runState[j] === 'halted') this.wake(j);
    });
    if ((ipi.deliveryMode === 4) && (ipi.shorthand === 1 || ipi.shorthand === 2 || (!ipi.logical && ipi.destination === this.lapics[from].state.id))) this.interrupts.vcpus[from].queueNmi();
  }

  /**
   * What decides vCPU `index`'s next event, as plain data: the VMM's queue, NMI and host events,
   * VM_ENTRY_INTR_INFO_FIELD, the guest's interruptibility, the armed windows, the preemption
   * timer, PIC and LAPIC registers (docs/vmm-interrupts.md).
   */
  pendingEvents(index: number): PendingEvents {
    const e = this.interrupts.vcpus[index];
    if (e === undefined) throw new RangeError(`no vCPU ${index}`);
    return e.pending();
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
    // VPID 0 is the VMM's own; each vCPU tags its guest translations with index + 1, as KVM allocates them.
    v.set('VIRTUAL_PROCESSOR_ID', vcpu.index + 1);
    vcpu.ioBitmaps.a.fill(0xff);
    vcpu.ioBitmaps.b.fill(0xff);
  }

  /**
   * Runs the guest for at most `maxInstructions` instructions in total over
   * all vCPUs (the first entry of each vCPU is its VM launch). The scheduler
   * hands out the pCPUs' slots round by round (src/vmm/sched); one vCPU on one
   * pCPU runs the budget in one go. Where a run stops inside a slot, the next
   * run continues it, so the order of events does not depend on how the
   * budget is split into runs. A pause request (`requestPause`) ends it
   * with reason 'pause'.
   */
  run(maxInstructions: number): VmStop {
    if (this.ended !== null) return this.endedAgain();
    this.runExits = 0;
    let done = 0;
    let last: VmStop | null = null;
    let ran = -1;
    while (done < maxInstructions) {
      if (this.interrupts.pausePending) {
        last = this.pauseStop(done);
        break;
      }
      // Signals are recognized where the scheduler decides, not where a run's budget ran out.
      if (this.smp.count > 0 && !this.scheduler.holds(this.runState)) {
        const stop = this.smp.recognize(this.smpHost());
        if (stop !== null) {
          last = { ...stop, instructions: done, exits: this.runExits };
          break;
        }
      }
      const index = this.pickNext();
      if (index < 0) {
        if (this.idleWake()) continue;
        last = this.idleStop(done);
        break;
      }
      const vcpu = this.vcpus[index];
      const r = this.runSlice(vcpu, Math.min(this.slotBudget, maxInstructions - done));
      this.scheduler.ran(r.instructions);
      done += r.instructions;
      if (r.kind === 'continue') continue;
      last = { ...r.stop, instructions: done, exits: this.runExits };
      ran = index;
      break;
    }
    if (last === null) {
      last = this.interrupts.pausePending ? this.pauseStop(done)
        : { reason: 'limit', message: `instruction limit ${maxInstructions} reached`, instructions: done, exits: this.runExits, rip: this.vcpus[0].cpu.eip >>> 0 };
    }
    return this.finish(last, ran);
  }

  /**
   * Runs vCPU `index` alone for `instructions` guest instructions (an
   * instruction that exits counts as one; idle time while it is halted
   * waiting for an event counts, as in `run`), as a debugger's single step:
   * the other vCPUs do not run, and their device time (LAPIC timers, idle
   * time) stands still; the platform's devices advance with this vCPU's
   * time as they do in `run`. When the vCPU holds the scheduler's current
   * slot the instructions are part of it (at most what is left of it);
   * otherwise, or past the slot's end, they run outside the schedule: they
   * count for the vCPU and its pCPU (`Scheduler.ranOutOfTurn`) but simulated
   * time, rounds and slots do not move, so the others gain no steal time.
   * INIT and SIPI signals wait for the next `run`. A vCPU that is not
   * runnable (halted with nothing that can wake it, waiting for SIPI) does
   * not move: the result is a 'limit' stop with no instructions, or 'hlt'
   * when no vCPU can run. Pause requests are taken as in `run`.
   */
  runVcpu(index: number, instructions: number): VmStop {
    const vcpu = this.vcpus[index];
    if (vcpu === undefined) throw new RangeError(`no vCPU ${index}`);
    if (this.ended !== null) return this.endedAgain();
    this.runExits = 0;
    let done = 0;
    let last: VmStop | null = null;
    while (done < instructions) {
      if (this.interrupts.pausePending) {
        last = this.pauseStop(done);
        break;
      }
      if (this.runState[index] !== 'runnable') break;
      const slot = this.scheduler.holds(this.runState) ? this.scheduler.next(this.runState) : null;
      const inSlot = slot !== null && slot.vcpu === index;
      const r = this.runSlice(vcpu, inSlot ? Math.min(slot.budget, instructions - done) : instructions - done);
      if (inSlot) this.scheduler.ran(r.instructions);
      else this.scheduler.ranOutOfTurn(index, r.instructions);
      done += r.instructions;
      if (r.kind === 'continue') continue;
      last = { ...r.stop, instructions: done, exits: this.runExits };
      break;
    }
    if (last === null) {
      if (this.interrupts.pausePending) last = this.pauseStop(done);
      else if (this.runState[index] !== 'runnable' && !this.runState.includes('runnable')) last = this.idleStop(done);
      else {
        const why = this.runState[index] === 'runnable' ? `instruction limit ${instructions} reached` : `vCPU ${index} cannot run (${this.runState[index]})`;
        last = { reason: 'limit', message: why, instructions: done, exits: this.runExits, rip: vcpu.cpu.eip >>> 0 };
      }
    }
    if (last.reason !== 'pause') last.vcpu = index;
    return this.finish(last, index);
  }

  /**
   * Asks the run to stop at vCPU `index`'s next instruction boundary: meant
   * for `exit` and `entry` listeners (and debugger watches), which cannot end
   * a run themselves. The exit is handled and the vCPU entered first, so the
   * stop shows the state the handler left, at the instruction the vCPU
   * resumes at (the first instruction of an injected event's handler, its
   * frame pushed); a vCPU the exit left halted stops halted. `run` (or
   * `runVcpu`) then returns reason 'pause' with `vcpu` and `message` = `reason`,
   * before any other exit is taken at that boundary. Nothing else changes:
   * the next run goes on exactly as an unpaused run would have.
   *
   * One pause is reported per request, however many requests a vCPU got
   * before it was taken. Made outside a run, it is taken at the start of
   * the next. A stop that ends the VM (shutdown, triple fault, failed entry,
   * unhandled exit) drops pending pauses; a 'hlt' or 'breakpoint' stop of the
   * same vCPU gives way to the pause (it comes again at the next run); when
   * another vCPU stops first, the pause is reported by the next run.
   */
  requestPause(index: number, reason = 'pause requested'): void {
    if (this.vcpus[index] === undefined) throw new RangeError(`no vCPU ${index}`);
    this.interrupts.requestPause(index, reason);
  }

  /** The reason of vCPU `index`'s pause request that was not taken yet, or null. */
  pauseRequested(index: number): string | null {
    return this.interrupts.pauseOf(index);
  }

  /** The stop of a VM that ended, again, for a later run. */
  private endedAgain(): VmStop {
    this.interrupts.clearPauses();
    const again: VmStop = { ...(this.ended as VmStop), instructions: 0, exits: 0 };
    this.events.emit('stop', again);
    return again;
  }

  /** A 'pause' stop for vCPU `index`, or by default the lowest-numbered vCPU with a pending request. */
  private pauseStop(done: number, index?: number): VmStop {
    const p = this.interrupts.takePause(index);
    const vcpu = p === null ? 0 : p.vcpu;
    return { reason: 'pause', message: p?.reason ?? 'pause requested', instructions: done, exits: this.runExits, rip: this.vcpus[vcpu].cpu.eip >>> 0, vcpu };
  }

  /**
   * The end of a run: a stop that ends the VM is kept (and drops pending
   * pauses); a pause of vCPU `ran` comes before its own 'hlt' or 'breakpoint' stop.
   */
  private finish(stop: VmStop, ran: number): VmStop {
    let last = stop;
    if (ENDING.has(last.reason)) {
      this.ended = last;
      this.interrupts.clearPauses();
    } else if (last.reason !== 'pause' && ran >= 0 && this.interrupts.pauseOf(ran) !== null) {
      last = this.pauseStop(last.instructions, ran);
    }
    this.events.emit('stop', last);
    return last;
  }

  /** Instructions left in the slot `pickNext` chose. */
  private slotBudget = 0;

  /** The vCPU the scheduler runs next (its slot's budget in `slotBudget`), or -1 when none can run. */
  private pickNext(): number {
    const slot = this.scheduler.next(this.runState);
    if (slot === null) return -1;
    this.slotBudget = slot.budget;
    return slot.vcpu;
  }

  /**
   * Called when no vCPU is runnable, before the VM stops with 'hlt': the place to let
   * time pass for whatever can wake a halted vCPU (device timers) and make it runnable
   * (`wake`). Returns true when a vCPU was woken, and the run goes on. By default
   * nothing can wake a vCPU.
   */
  private idleWake(): boolean {
    return false;
  }

  /**
   * Nothing is runnable: every vCPU is halted (or parked) with nothing that can wake it.
   * Whatever wakes a vCPU sets its `runState` to 'runnable' (or calls `wake`); the
   * scheduler sees the change at its next decision.
   */
  private idleStop(done: number): VmStop {
    const halted = this.vcpus.findIndex((_, i) => this.runState[i] === 'halted');
    const v = this.vcpus[halted < 0 ? 0 : halted];
    const parked = this.runState.every((s) => s !== 'halted');
    return { reason: 'hlt', message: this.lastHaltMessage ?? (parked ? 'no vCPU is running: every vCPU waits for SIPI or is stopped' : 'every vCPU is halted'), instructions: done, exits: this.runExits, rip: v.cpu.eip >>> 0 };
  }

  /**
   * Makes a halted or parked vCPU runnable; it joins the run queue of the pCPU it last ran on
   * at the scheduler's next decision. A halted vCPU leaves the HLT activity state.
   */
  wake(index: number): void {
    if (this.runState[index] === 'halted') {
      this.vcpus[index].vmcs.set('GUEST_ACTIVITY_STATE', ACTIVITY_ACTIVE);
      this.vcpus[index].cpu.halted = false;
    }
    this.runState[index] = 'runnable';
  }

  // --- multiprocessor start-up ---------------------------------------------

  /**
   * Sends INIT to vCPU `target` (the local APIC's ICR calls this). The target
   * recognizes it when the run loop next decides (after the sender's slice):
   * a VM exit 3 (INIT signal), whose default handler parks it in wait-for-SIPI.
   * Returns false when there is no such vCPU.
   */
  sendInit(target: number, from = -1): boolean {
    return this.smp.send(target, { kind: 'init', vector: 0, from });
  }

  /**
   * Sends a start-up IPI with `vector` to vCPU `target`. A target in
   * wait-for-SIPI takes VM exit 4 (SIPI) with the vector as qualification; its
   * default handler starts it in real mode at CS:IP = (vector << 8):0. A SIPI to
   * a vCPU in any other state is dropped, as on hardware.
   */
  sendSipi(target: number, vector: number, from = -1): boolean {
    return this.smp.send(target, { kind: 'sipi', vector: vector & 0xff, from });
  }

  /** INIT/SIPI signals sent to a vCPU and not yet recognized. */
  pendingSignals(index: number): readonly PendingSignal[] {
    return this.smp.signals[index] ?? [];
  }

  /** What the start-up logic of smp.ts works on. */
  private smpHost(): SmpHost {
    return {
      vcpus: this.vcpus, runState: this.runState, launched: this.launched,
      yieldSlice: (vcpu) => {
        this.scheduler.yieldCurrent(vcpu.index);
        this.yieldStop = vcpu.index;
        vcpu.cpu.requestStop('hlt', YIELD_STOP);
      },
    };
  }

  /** The exit trace's fingerprint so far: FNV-1a 64 (16 hex digits) over every exit's canonical encoding (src/vmm/sched/trace-hash.ts). */
  traceHash(): string {
    return this.trace.digest();
  }

  // --- whole-VM snapshots --------------------------------------------------

  /**
   * The whole VM as plain JSON data: memory and every processor, every
   * vCPU's VMCS and bitmaps, run states, the scheduler, statistics, the
   * exit counter and trace hash, the output so far, and every registered part.
   * Take it between runs.
   */
  snapshot(): VmSnapshot {
    return takeSnapshot(this.snapshotSource());
  }

  /**
   * Puts the VM in the state of `s` (taken from a VM created with the same
   * options): the next `run` continues exactly as the original did.
   */
  restore(s: VmSnapshot): void {
    applySnapshot(this.snapshotSource(), s);
  }

  private snapshotSource(): VmSnapshotSource {
    return {
      machine: this.machine, vcpus: this.vcpus, runState: this.runState, scheduler: this.scheduler, stats: this.stats,
      trace: this.trace, output: this.output, parts: this.stateParts,
      get: () => ({
        launched: this.vcpus.map((_, i) => this.launched[i] === true), ...this.smp.snapshot(),
        exitSequence: this.exitSequence, ended: this.ended, lastHaltMessage: this.lastHaltMessage,
      }),
      set: (v) => {
        v.launched.forEach((l, i) => { this.launched[i] = l; });
        this.smp.restore(v);
        this.exitSequence = v.exitSequence;
        this.ended = v.ended;
        this.lastHaltMessage = v.lastHaltMessage;
        this.yieldStop = -1;
        this.interrupts.clearPauses();
      },
    };
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

  /**
   * Events (interrupts, NMIs, timers) due for `vcpu` before it runs a slice.
   * Nothing to do here: `interrupts.runVcpu` looks at them at the start of
   * every chunk it runs, and every VM entry injects (events.ts).
   */
  private deliverEvents(_vcpu: Vcpu): void {
    // See interrupts.runVcpu.
  }

  /**
   * A 'vmexit' stop of the CPU (raised from inside an instruction, e.g. by the
   * EPT translator) becomes a VM exit here. Returns the handler's action, or
   * null when the stop was not a VM exit this VMM knows.
   */
  private vmexitStop(vcpu: Vcpu, s: StopInfo): ExitAction | null {
    return this.memory.vmexitStop(vcpu, s);
  }

  /** The VM's memory: slots, paging mode, EPT or shadow tables, MMIO devices, counters (docs/vmm-memory.md). */
  readonly memory: VmMemory;

  /** Registers an MMIO device at [gpa, gpa+size): guest accesses exit and are emulated against it. */
  mapMmio(name: string, gpa: number, size: number, device: MmioDevice): MmioSlot {
    return this.memory.mapMmio(name, gpa, size, device);
  }

  /** The complete walk of a guest-virtual address on one vCPU (guest entries, EPT walks, shadow entries, fault). */
  translate(vcpuIndex: number, gva: number, opts: TranslateOptions = {}): VmTranslation {
    const vcpu = this.vcpus[vcpuIndex];
    if (vcpu === undefined) throw new RangeError(`no vCPU ${vcpuIndex}`);
    return this.memory.translate(vcpu, gva, opts);
  }

  /** Runs one vCPU for up to `budget` instructions. */
  private runSlice(vcpu: Vcpu, budget: number): { kind: 'continue'; instructions: number } | { kind: 'stop'; instructions: number; stop: Omit<VmStop, 'instructions' | 'exits'> } {
    const i = vcpu.index;
    vcpu.stopAction = null;
    if (!this.launched[i] || this.smp.reenter[i]) {
      this.launched[i] = true;
      this.smp.reenter[i] = false;
      if (!vcpu.enter() && vcpu.entryFailure !== null) {
        // VMLAUNCH failed: the guest never ran.
        return { kind: 'stop', instructions: 0, stop: { reason: 'error', message: vcpu.entryFailure.message, rip: vcpu.vmcs.get('GUEST_RIP'), entryFailure: vcpu.entryFailure } };
      }
    }
    this.deliverEvents(vcpu);
    const s = this.interrupts.runVcpu(vcpu, this.processors[i].engine, Math.max(0, Math.floor(budget)));
    if (this.yieldStop === i) {
      this.yieldStop = -1;
      if (s.reason === 'hlt' && s.message === YIELD_STOP && vcpu.stopAction === null) return { kind: 'continue', instructions: s.instructions };
    }
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

  private readonly detail: ExitDetail = { cpuidLeaf: undefined, msr: undefined, repCount: undefined };

  private onExit(vcpu: Vcpu, exit: VmExit): ExitAction {
    this.runExits++;
    const c = vcpu.cpu;
    // One record, refilled per exit (no allocation on the exit path); the statistics do not keep it.
    const detail = this.detail;
    detail.cpuidLeaf = exit.reason === EXIT_REASON.CPUID ? c.r[0] >>> 0 : undefined;
    detail.msr = exit.reason === EXIT_REASON.MSR_READ || exit.reason === EXIT_REASON.MSR_WRITE ? c.r[1] >>> 0 : undefined;
    // REP string I/O: the cost model charges per element; the count register follows the address size (instruction information bits 9:7).
    detail.repCount = exit.reason === EXIT_REASON.IO_INSTRUCTION && (exit.qualification & 0x30) === 0x30
      ? (((exit.instructionInfo >>> 7) & 7) === 0 ? c.r[1] & 0xffff : c.r[1] >>> 0) : undefined;
    this.stats.record(exit, detail);
    // The trace hash sees every exit first, as the VM's own listener did before any other could subscribe.
    this.trace.add(exit);
    if (this.events.has('exit')) this.events.emit('exit', exit);
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
