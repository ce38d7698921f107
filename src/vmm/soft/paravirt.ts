// The paravirtualized kernel's side door: hypercalls (`int 0x82` from ring
// 1, Xen-like; the ABI is in docs/techniques.md) in place of every
// privileged instruction, the trap table it registers instead of an IDT,
// and the kernel stack it names instead of a TSS.

import { SS } from '../../x86/cpu/cpu';
import type { DeliveryProblem, EventTarget } from './deliver';
import type { SoftVm } from './soft-vm';

export const PV_HYPERCALL_VECTOR = 0x82;

export const PV_HYPERCALLS = [
  'CONSOLE_WRITE', 'SET_TRAP_TABLE', 'MMU_UPDATE', 'SET_PAGING', 'STACK_SWITCH', 'IRET', 'IRQ_DISABLE', 'IRQ_RESTORE',
  'BLOCK', 'YIELD', 'IO_WRITE', 'IO_READ', 'SHUTDOWN', 'INVLPG', 'FAULT_ADDRESS',
] as const;

/** IO_WRITE and IO_READ: the device model's work comes on top of the hypercall. */
const IO_HYPERCALLS: ReadonlySet<number> = new Set([PV_HYPERCALLS.indexOf('IO_WRITE'), PV_HYPERCALLS.indexOf('IO_READ')]);

const EINVAL = -22, ENOSYS = -38;
const CONSOLE_MAX = 4096;

interface TrapEntry { cs: number; offset: number; dpl: number; masks: boolean }

export class Paravirt {
  private readonly table = new Map<number, TrapEntry>();
  private stack: [number, number] | null = null;
  /** The last #PF's linear address (FAULT_ADDRESS). */
  faultAddress = 0;

  constructor(private readonly vm: SoftVm) {}

  /** The registered trap table, by vector. */
  trapTable(): { vector: number; cs: number; offset: number; dpl: number; masksEvents: boolean }[] {
    return [...this.table.entries()].sort((a, b) => a[0] - b[0]).map(([vector, e]) => ({ vector, cs: e.cs, offset: e.offset, dpl: e.dpl, masksEvents: e.masks }));
  }

  target(vector: number, software: boolean): EventTarget | DeliveryProblem {
    const e = this.table.get(vector);
    if (e === undefined) {
      if (vector === 13 || vector === 8) return { kind: 'unsupported', message: `the kernel registered no handler for vector ${vector} (SET_TRAP_TABLE)` };
      return { kind: 'exception', vector: 13, errorCode: vector * 8 + 2 };
    }
    if (software && e.dpl < this.vm.v.cpl) return { kind: 'exception', vector: 13, errorCode: vector * 8 + 2 };
    return { selector: e.cs, offset: e.offset, masksInterrupts: e.masks };
  }

  kernelStack(): [number, number] | DeliveryProblem {
    return this.stack ?? { kind: 'unsupported', message: 'an event from user mode needs a kernel stack, but the kernel has not called STACK_SWITCH' };
  }

  /** Carries out the hypercall in EAX (EIP is already past `int 0x82`). */
  hypercall(): void {
    const vm = this.vm;
    const c = vm.cpu;
    const nr = c.r[0] >>> 0;
    const name = PV_HYPERCALLS[nr] ?? `#${nr}`;
    const extra = vm.stats.costs.hypercall + (IO_HYPERCALLS.has(nr) ? vm.stats.costs.ioDevice : 0);
    vm.trap(`hypercall: ${name}`, extra);
    vm.stats.hypercall(name, vm.stats.costs.trapRoundTrip + extra);
    const ebx = c.r[3] >>> 0, ecx = c.r[1] >>> 0, edx = c.r[2] >>> 0;
    const ret = (v: number): void => { c.r[0] = v | 0; };
    switch (nr) {
      case 0: {
        if (ecx > CONSOLE_MAX) return ret(EINVAL);
        const b = vm.guest.read(ebx, ecx);
        if (!(b instanceof Uint8Array)) return ret(EINVAL);
        vm.emitOutput([...b], 'hypercall');
        return ret(ecx);
      }
      case 1: {
        for (let i = 0; i < 256; i++) {
          const lo = vm.guest.read32(ebx + i * 8), hi = vm.guest.read32(ebx + i * 8 + 4);
          if (typeof lo !== 'number' || typeof hi !== 'number') return ret(EINVAL);
          if (hi === 0) break;
          this.table.set(lo & 0xff, { cs: lo >>> 16, offset: hi, dpl: (lo >>> 8) & 3, masks: ((lo >>> 8) & 4) !== 0 });
        }
        return ret(0);
      }
      case 2: return ret(this.mmuUpdate(ebx, ecx));
      case 3: {
        if (ebx === 0) vm.v.cr0 = (vm.v.cr0 & 0x7fffffff) >>> 0;
        else {
          if ((ebx & 0xfff) !== 0 || ebx >= vm.ramSize) return ret(EINVAL);
          vm.v.cr3 = ebx;
          vm.v.cr0 = (vm.v.cr0 | 0x80000001) >>> 0;
        }
        vm.shadow.flush(c);
        if (ebx !== 0) vm.shadow.prefillAll(c);
        return ret(0);
      }
      case 4: this.stack = [ebx & 0xffff, ecx]; return ret(0);
      case 5: {
        const base = c.seg[SS].base + (c.r[4] >>> 0);
        const words: number[] = [];
        for (let i = 0; i < 6; i++) {
          const w = vm.guest.read32((base + i * 4) >>> 0);
          words.push(typeof w === 'number' ? w : 0);
        }
        // EAX to return with on top (EAX carries the call number), then the IRET instruction's frame.
        const [eax, eip, cs, flags, esp, ss] = words;
        const user = (cs & 3) === 3;
        c.r[4] = (c.r[4] + (user ? 24 : 16)) | 0;
        c.r[0] = eax | 0;
        vm.finishEmulation(vm.emulatedIret(eip, cs & 0xffff, flags, user ? esp : null, user ? ss & 0xffff : null));
        return;
      }
      case 6: { const was = vm.v.interrupts; vm.v.interrupts = false; return ret(was ? 1 : 0); }
      case 7:
        vm.v.interrupts = (ebx & 1) !== 0;
        ret(0);
        if (vm.v.interrupts) vm.emulationHost().interruptsEnabled();
        return;
      case 8:
        vm.v.interrupts = true;
        ret(0);
        vm.emulationHost().halt();
        return;
      case 9: return ret(0);
      case 10: {
        const size = edx === 1 || edx === 2 || edx === 4 ? edx : 0;
        if (size === 0) return ret(EINVAL);
        c.io.out(ebx & 0xffff, size, ecx);
        return ret(0);
      }
      case 11: {
        const size = edx === 1 || edx === 2 || edx === 4 ? edx : 0;
        if (size === 0) return ret(EINVAL);
        return ret(c.io.in(ebx & 0xffff, size));
      }
      case 12: vm.requestStop('shutdown', `SHUTDOWN hypercall, exit code ${ebx}`, ebx); return ret(0);
      case 13: vm.shadow.invlpg(c, ebx); return ret(0);
      case 14: return ret(this.faultAddress);
      default: return ret(ENOSYS);
    }
  }

  /**
   * Writes page-table entries for the kernel: each must lie in guest RAM and
   * map guest RAM. The shadow entries they affect are dropped (refilled on
   * use); a page-directory entry changed drops the whole shadow. Returns the
   * entries done.
   */
  private mmuUpdate(list: number, count: number): number {
    const vm = this.vm;
    const mem = vm.cpu.mem;
    let flushAll = false;
    let done = 0;
    for (let i = 0; i < count; i++) {
      const ptr = vm.guest.read32(list + i * 8), val = vm.guest.read32(list + i * 8 + 4);
      if (typeof ptr !== 'number' || typeof val !== 'number') break;
      if ((ptr & 3) !== 0 || ptr >= vm.ramSize) break;
      if ((val & 1) !== 0 && (val & ~0xfff) >>> 0 >= vm.ramSize) break;
      mem.write32(ptr, val);
      done++;
      const pd = vm.v.cr3 & ~0xfff;
      if ((ptr & ~0xfff) === pd) { flushAll = true; continue; }
      for (let di = 0; di < 1023; di++) {
        const pde = mem.read32(pd + di * 4) >>> 0;
        if ((pde & 1) !== 0 && (pde & 0x80) === 0 && (pde & ~0xfff) >>> 0 === (ptr & ~0xfff) >>> 0) vm.shadow.dropLinear(vm.cpu, ((di << 22) | (((ptr & 0xfff) >>> 2) << 12)) >>> 0);
      }
    }
    if (flushAll && (vm.v.cr0 & 0x80000000) !== 0) {
      vm.shadow.flush(vm.cpu);
      vm.shadow.prefillAll(vm.cpu);
    }
    return done;
  }
}
