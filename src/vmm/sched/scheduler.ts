// vCPUs on simulated physical CPUs. Simulated time advances in rounds: in
// each round every pCPU has one slot of `slice` guest instructions, and the
// slots run one after the other in pCPU order (they stand for the pCPUs
// running side by side), so every run is deterministic. A pCPU fills its slot
// from its own run queue (FIFO); a vCPU that uses up the slot goes to the back
// of that queue, one that halts or waits for SIPI leaves it and rejoins the
// queue of the pCPU it last ran on when it wakes. A pCPU with an empty queue
// takes the last vCPU of the longest queue that holds at least two (a
// migration). Every choice depends only on the order of events, never on
// host time.

/** Why a vCPU is or is not running. */
export type VcpuRunState = 'runnable' | 'halted' | 'wait-for-sipi' | 'stopped';

export interface SchedulerOptions {
  vcpus: number;
  pcpus: number;
  /** Guest instructions per slot; 0: no slicing (the slot lasts as long as the run budget). */
  slice: number;
  /** The run state of each vCPU at power-on. */
  initial: readonly VcpuRunState[];
}

/** What the run loop does next: run `vcpu` on `pcpu` for at most `budget` instructions. */
export interface Slot {
  pcpu: number;
  vcpu: number;
  /** Instructions left in the slot (Infinity without slicing). */
  budget: number;
}

/** Per-vCPU accounting; times are in guest instructions of simulated time. */
export interface VcpuSchedStats {
  index: number;
  state: VcpuRunState;
  /** The pCPU it is running on or queued at, or -1. */
  pcpu: number;
  /** The pCPU it last ran on, or -1. */
  lastPcpu: number;
  /** Times it was given a pCPU. */
  slices: number;
  instructions: number;
  /** Time spent runnable in a run queue while another vCPU had the pCPU (steal time). */
  steal: number;
  /** Time spent halted (HLT). */
  halted: number;
  /** Time spent waiting for SIPI or stopped. */
  parked: number;
  /** Runs on a different pCPU than the previous one. */
  migrations: number;
  /** VMCS loads (VMPTRLD) for this vCPU: runs on a pCPU whose current VMCS was another vCPU's. */
  contextSwitches: number;
  yields: number;
}

export interface PcpuSchedStats {
  index: number;
  /** The vCPU whose VMCS is current on this pCPU (the last one it ran), or -1. */
  loaded: number;
  /** vCPUs waiting in its run queue, head first. */
  queue: number[];
  /** Guest instructions run. */
  busy: number;
  /** Slot time left unused because no vCPU could run. */
  idle: number;
  /** VMPTRLDs: dispatches of a vCPU other than the loaded one. */
  switches: number;
  /** Instructions used of the slot in the current round. */
  used: number;
}

/** Plain data for a debugger view. */
export interface SchedulerView {
  slice: number;
  round: number;
  /** Simulated time: round start plus the current slot's used instructions. */
  now: number;
  /** pCPU whose slot is current in this round. */
  cursor: number;
  /** The vCPU running in the current slot, or -1 between dispatches. */
  running: number;
  pcpus: PcpuSchedStats[];
  vcpus: VcpuSchedStats[];
}

export interface SchedulerSnapshot {
  slice: number;
  round: number;
  cursor: number;
  current: number;
  queues: number[][];
  used: number[];
  loaded: number[];
  pbusy: number[];
  pidle: number[];
  pswitches: number[];
  seen: VcpuRunState[];
  since: number[];
  yielded: boolean[];
  vcpus: Omit<VcpuSchedStats, 'index' | 'state' | 'pcpu'>[];
}

/** Per-vCPU accumulators: the reported statistics without the live placement fields. */
type VcpuAcc = Omit<VcpuSchedStats, 'index' | 'state' | 'pcpu'>;

const freshAcc = (): VcpuAcc => ({ lastPcpu: -1, slices: 0, instructions: 0, steal: 0, halted: 0, parked: 0, migrations: 0, contextSwitches: 0, yields: 0 });

export class Scheduler {
  readonly vcpuCount: number;
  readonly pcpuCount: number;
  /** Instructions per slot; 0 means unsliced. */
  readonly slice: number;
  private round = 0;
  private cursor = 0;
  /** The vCPU dispatched in the current slot, or -1. */
  private current = -1;
  private queues: number[][];
  private used: number[];
  private loaded: number[];
  private pbusy: number[];
  private pidle: number[];
  private pswitches: number[];
  /** The run state last seen for each vCPU, and since when (simulated time). */
  private seen: VcpuRunState[];
  private since: number[];
  private yielded: boolean[];
  private acc: VcpuAcc[];

  constructor(o: SchedulerOptions) {
    if (!Number.isInteger(o.pcpus) || o.pcpus < 1) throw new RangeError(`pcpus must be a positive integer (got ${o.pcpus})`);
    if (!Number.isInteger(o.slice) || o.slice < 0) throw new RangeError(`the slice must be a whole number of instructions (got ${o.slice})`);
    this.vcpuCount = o.vcpus;
    this.pcpuCount = o.pcpus;
    this.slice = o.slice;
    this.queues = Array.from({ length: o.pcpus }, () => []);
    this.used = new Array<number>(o.pcpus).fill(0);
    this.loaded = new Array<number>(o.pcpus).fill(-1);
    this.pbusy = new Array<number>(o.pcpus).fill(0);
    this.pidle = new Array<number>(o.pcpus).fill(0);
    this.pswitches = new Array<number>(o.pcpus).fill(0);
    this.seen = o.initial.slice(0, o.vcpus);
    this.since = new Array<number>(o.vcpus).fill(0);
    this.yielded = new Array<boolean>(o.vcpus).fill(false);
    this.acc = Array.from({ length: o.vcpus }, freshAcc);
    for (let v = 0; v < o.vcpus; v++) if (this.seen[v] === 'runnable') this.queues[v % o.pcpus].push(v);
  }

  /** Simulated time: the current round's start plus what the current slot has used. */
  now(): number {
    return this.round * this.slice + this.used[this.cursor];
  }

  /**
   * The next slot, after taking in run-state changes (a vCPU that halted
   * leaves its queue, one that became runnable joins one). Null when no vCPU
   * is runnable.
   */
  next(states: readonly VcpuRunState[]): Slot | null {
    if (this.holds(states)) return { pcpu: this.cursor, vcpu: this.current, budget: this.slice > 0 ? this.slice - this.used[this.cursor] : Infinity };
    this.observe(states);
    if (!states.some((s) => s === 'runnable')) return null;
    // A runnable vCPU is queued somewhere, so at most two rounds of cursor moves find it.
    for (let guard = 0; guard < 2 * this.pcpuCount + 2; guard++) {
      const p = this.cursor;
      const cur = this.current;
      const sliced = this.slice > 0;
      if (cur >= 0) {
        if (!this.yielded[cur] && (!sliced || this.used[p] < this.slice)) return { pcpu: p, vcpu: cur, budget: sliced ? this.slice - this.used[p] : Infinity };
        // Slot used up or yielded: back of the queue, waiting from now.
        this.yielded[cur] = false;
        this.queues[p].push(cur);
        this.since[cur] = this.now();
        this.current = -1;
      }
      if (!sliced || this.used[p] < this.slice) {
        const v = this.take(p);
        if (v >= 0) {
          this.dispatch(p, v);
          return { pcpu: p, vcpu: v, budget: sliced ? this.slice - this.used[p] : Infinity };
        }
      }
      this.endSlot(p);
    }
    throw new Error('scheduler: a runnable vCPU is in no run queue');
  }

  /**
   * True while the current slot goes on: its vCPU is still runnable, did not
   * yield and has budget left. Run-state changes are only taken in when a
   * slot ends or its vCPU stops, so the decisions do not depend on where the
   * run loop's budget happened to end.
   */
  holds(states: readonly VcpuRunState[]): boolean {
    const cur = this.current;
    return cur >= 0 && states[cur] === 'runnable' && !this.yielded[cur] && (this.slice === 0 || this.used[this.cursor] < this.slice);
  }

  /** The vCPU of the current slot ran `instructions` guest instructions. */
  ran(instructions: number): void {
    const p = this.cursor;
    this.used[p] += instructions;
    this.pbusy[p] += instructions;
    if (this.current >= 0) this.acc[this.current].instructions += instructions;
  }

  /**
   * vCPU `vcpu` ran `instructions` outside the schedule (a debugger's single
   * step, `Vm.runVcpu`, while the current slot is another vCPU's or none):
   * they count for the vCPU and for the pCPU it is on or last ran on, but
   * simulated time, the round and the slots stay where they were, so no
   * other vCPU gains steal, halted or parked time from them. It is no
   * dispatch: no slice, migration or VMCS load is counted.
   */
  ranOutOfTurn(vcpu: number, instructions: number): void {
    const a = this.acc[vcpu];
    a.instructions += instructions;
    let p = vcpu === this.current ? this.cursor : this.queues.findIndex((q) => q.includes(vcpu));
    if (p < 0) p = a.lastPcpu >= 0 ? a.lastPcpu : vcpu % this.pcpuCount;
    this.pbusy[p] += instructions;
  }

  /** The running vCPU gives up the rest of its slice: it goes to the back of its pCPU's queue. */
  yieldCurrent(vcpu: number): void {
    if (vcpu !== this.current) return;
    this.yielded[vcpu] = true;
    this.acc[vcpu].yields++;
  }

  /** The vCPU running in the current slot, or -1. */
  get running(): number {
    return this.current;
  }

  view(): SchedulerView {
    const now = this.now();
    const where = (v: number): number => (v === this.current ? this.cursor : this.queues.findIndex((q) => q.includes(v)));
    return {
      slice: this.slice,
      round: this.round,
      now,
      cursor: this.cursor,
      running: this.current,
      pcpus: this.queues.map((q, p) => ({
        index: p, loaded: this.loaded[p], queue: [...q], busy: this.pbusy[p], idle: this.pidle[p], switches: this.pswitches[p], used: this.used[p],
      })),
      vcpus: this.acc.map((a, v) => {
        // Time in the current state counts up to now.
        const open = Math.max(0, now - this.since[v]);
        const state = this.seen[v];
        const queued = state === 'runnable' && v !== this.current;
        return {
          index: v, state, pcpu: where(v), ...a,
          steal: a.steal + (queued ? open : 0),
          halted: a.halted + (state === 'halted' ? open : 0),
          parked: a.parked + (state === 'wait-for-sipi' || state === 'stopped' ? open : 0),
        };
      }),
    };
  }

  snapshot(): SchedulerSnapshot {
    return {
      slice: this.slice, round: this.round, cursor: this.cursor, current: this.current,
      queues: this.queues.map((q) => [...q]), used: [...this.used], loaded: [...this.loaded],
      pbusy: [...this.pbusy], pidle: [...this.pidle], pswitches: [...this.pswitches],
      seen: [...this.seen], since: [...this.since], yielded: [...this.yielded],
      vcpus: this.acc.map((a) => ({ ...a })),
    };
  }

  restore(s: SchedulerSnapshot): void {
    if (s.slice !== this.slice || s.queues.length !== this.pcpuCount || s.seen.length !== this.vcpuCount) {
      throw new Error(`scheduler snapshot is for ${s.seen.length} vCPUs on ${s.queues.length} pCPUs with slice ${s.slice}; this VM has ${this.vcpuCount} on ${this.pcpuCount} with slice ${this.slice}`);
    }
    this.round = s.round; this.cursor = s.cursor; this.current = s.current;
    this.queues = s.queues.map((q) => [...q]);
    this.used = [...s.used]; this.loaded = [...s.loaded];
    this.pbusy = [...s.pbusy]; this.pidle = [...s.pidle]; this.pswitches = [...s.pswitches];
    this.seen = [...s.seen]; this.since = [...s.since]; this.yielded = [...s.yielded];
    this.acc = s.vcpus.map((a) => ({ ...a }));
  }

  /** Takes in run-state changes made since the last call (by handlers, INIT/SIPI, devices). */
  private observe(states: readonly VcpuRunState[]): void {
    for (let v = 0; v < this.vcpuCount; v++) {
      const was = this.seen[v];
      const is = states[v];
      if (was === is) continue;
      const t = this.now();
      const spent = Math.max(0, t - this.since[v]);
      const a = this.acc[v];
      if (was === 'runnable') {
        if (v === this.current) this.current = -1;
        else {
          a.steal += spent;
          for (const q of this.queues) {
            const k = q.indexOf(v);
            if (k >= 0) q.splice(k, 1);
          }
        }
        this.yielded[v] = false;
      } else if (was === 'halted') a.halted += spent;
      else a.parked += spent;
      if (is === 'runnable') this.queues[a.lastPcpu >= 0 ? a.lastPcpu : v % this.pcpuCount].push(v);
      this.seen[v] = is;
      this.since[v] = t;
    }
  }

  /** Head of the pCPU's queue, or a vCPU taken from the longest queue holding two or more. */
  private take(p: number): number {
    const own = this.queues[p].shift();
    if (own !== undefined) return own;
    let from = -1;
    for (let q = 0; q < this.pcpuCount; q++) {
      if (this.queues[q].length >= 2 && (from < 0 || this.queues[q].length > this.queues[from].length)) from = q;
    }
    return from < 0 ? -1 : this.queues[from].pop() ?? -1;
  }

  private dispatch(p: number, v: number): void {
    const a = this.acc[v];
    a.steal += Math.max(0, this.now() - this.since[v]);
    if (a.lastPcpu >= 0 && a.lastPcpu !== p) a.migrations++;
    if (this.loaded[p] !== v) {
      this.loaded[p] = v;
      this.pswitches[p]++;
      a.contextSwitches++;
    }
    a.lastPcpu = p;
    a.slices++;
    this.current = v;
  }

  /** Ends pCPU p's slot in this round; after the last pCPU a new round starts. */
  private endSlot(p: number): void {
    if (this.slice > 0) this.pidle[p] += this.slice - this.used[p];
    this.cursor++;
    if (this.cursor === this.pcpuCount) {
      this.cursor = 0;
      this.round++;
      // Unsliced, time is the one pCPU's instruction count and never restarts.
      if (this.slice > 0) this.used.fill(0);
    }
  }
}
