// Recent VM exits for the `exits` console command: a ring buffer filled from
// vm.events. The session creates one per VM when it launches.
import type { Vm, VmExit } from '../../vmm/vtx/index';

const LOGS = new WeakMap<Vm, ExitLog>();

export class ExitLog {
  private readonly ring: (VmExit | undefined)[];
  private next = 0;
  private count = 0;
  private readonly off: () => void;

  constructor(readonly vm: Vm, readonly capacity = 256) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('ExitLog capacity must be a positive integer');
    this.ring = new Array<VmExit | undefined>(capacity);
    this.off = vm.events.on('exit', (e) => this.push(e));
    LOGS.set(vm, this);
  }

  /** The log registered for a VM (the latest one created), if any. */
  static of(vm: Vm): ExitLog | undefined {
    return LOGS.get(vm);
  }

  private push(e: VmExit): void {
    this.ring[this.next] = e;
    this.next = (this.next + 1) % this.capacity;
    this.count++;
  }

  /** Exits seen in total (including those the ring no longer holds). */
  get total(): number {
    return this.count;
  }

  /** The last `n` exits, oldest first. */
  recent(n = this.capacity): VmExit[] {
    const k = Math.min(n, this.count, this.capacity);
    const out: VmExit[] = [];
    for (let i = k; i > 0; i--) {
      const e = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  clear(): void {
    this.ring.fill(undefined);
    this.next = 0;
    this.count = 0;
  }

  /** Stops listening; the VM forgets this log. */
  dispose(): void {
    this.off();
    if (LOGS.get(this.vm) === this) LOGS.delete(this.vm);
  }
}
