import { Emitter } from './emitter';
import type { VmEvents } from './vm-options';

/**
 * The VM's events, counting subscriptions: the exit and entry paths skip
 * building and copying event records when nobody listens.
 */
export class VmEmitter extends Emitter<VmEvents> {
  private readonly counts: Record<keyof VmEvents, number> = { exit: 0, entry: 0, stop: 0, output: 0 };

  override on<K extends keyof VmEvents>(name: K, fn: (e: VmEvents[K]) => void): () => void {
    const off = super.on(name, fn);
    this.counts[name]++;
    let subscribed = true;
    return () => {
      // Counted down once; a count left too high only costs an emit to nobody.
      if (subscribed) {
        subscribed = false;
        this.counts[name]--;
      }
      off();
    };
  }

  has(name: keyof VmEvents): boolean {
    return this.counts[name] > 0;
  }
}
