// `hyperstep run --technique trap-and-emulate|binary-translation|paravirt`:
// the guest kernel on the software VMM (src/vmm/soft), in slices, with its
// output as it comes, optionally every trap and hole as it happens, and the
// VMM's statistics at the end.

import { Machine } from '../x86/machine';
import { SoftVm, type HoleEvent, type SoftTechnique, type SoftTrap, type SoftVmStop } from '../vmm/soft/index';
import type { SoftConfigOptions } from '../vmm/config/index';
import { InputError, type LoadedProgram } from './program';
import { loadOnto } from './run';
import { VMM_FLAT32_ORG } from './vmrun';

const SLICE = 4_000_000;

export interface SoftRunOptions {
  technique: SoftTechnique;
  /** Over the configuration's kernelRing (default 1). */
  kernelRing?: 1 | 3;
  org?: number;
  maxInstructions: number;
  /** From a VM configuration (toSoftVmOptions); its technique is overridden by `technique`. */
  config?: SoftConfigOptions;
  onOutput?: (text: string) => void;
  onTrap?: (trap: SoftTrap) => void;
  onHole?: (hole: HoleEvent) => void;
  onSlice?: () => void;
}

export interface SoftRunOutcome {
  vm: SoftVm;
  stop: SoftVmStop;
  instructions: number;
  loadAddress: number;
  console: string;
}

export function runUnderSoft(program: LoadedProgram, opts: SoftRunOptions): SoftRunOutcome {
  if (!Number.isSafeInteger(opts.maxInstructions) || opts.maxInstructions <= 0)
    throw new InputError(`--max-instructions must be a positive integer (got ${opts.maxInstructions})`);
  const wanted = opts.org ?? (program.origin || undefined) ?? opts.config?.org ?? VMM_FLAT32_ORG;
  // The same loading rules and messages as a bare run, checked on a scratch machine.
  const at = loadOnto(new Machine({ memorySize: 1 << 20 }), program, 'flat32', wanted);
  let vm: SoftVm;
  try {
    vm = new SoftVm({ ...opts.config, technique: opts.technique, image: program.bytes, org: at, ...(opts.kernelRing !== undefined ? { kernelRing: opts.kernelRing } : {}) });
  } catch (e) {
    if (e instanceof RangeError) throw new InputError(`${program.path}: ${e.message}`);
    throw e;
  }
  const text: string[] = [];
  vm.events.on('output', (o) => {
    text.push(o.text);
    opts.onOutput?.(o.text);
  });
  if (opts.onTrap) vm.events.on('trap', opts.onTrap);
  if (opts.onHole) vm.events.on('hole', opts.onHole);
  let left = opts.maxInstructions;
  let total = 0;
  let stop: SoftVmStop;
  for (;;) {
    stop = vm.run(Math.min(left, SLICE));
    total += stop.instructions;
    left -= stop.instructions;
    opts.onSlice?.();
    if (stop.reason !== 'limit') break;
    if (left <= 0) {
      stop = { ...stop, message: `instruction limit reached (${opts.maxInstructions.toLocaleString('en-US')} instructions) — the guest did not stop by itself` };
      break;
    }
  }
  return { vm, stop, instructions: total, loadAddress: at, console: text.join('') };
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;

export function formatTrapLine(t: SoftTrap): string {
  return `trap #${t.seq} ${t.key} rip=${hex(t.rip)} ${t.cycles.toLocaleString('en-US')}cyc`;
}

export function formatHoleLine(h: HoleEvent): string {
  return `hole at ${hex(h.rip)} \`${h.instruction}\`: saw ${h.saw}; expected ${h.expected} — ${h.why}`;
}

/** The virtual CPU the guest kernel believes it runs on, for the summary. */
export function virtualCpuLine(vm: SoftVm): string {
  const v = vm.v;
  return `virtual CPU: CPL=${v.cpl} (runs in ring ${vm.cpu.seg[1].selector & 3}) IF=${v.interrupts ? 1 : 0} CR0=${hex(v.cr0)} CR3=${hex(v.cr3)} GDTR=${hex(v.gdtr.base)}/${v.gdtr.limit.toString(16).toUpperCase()} IDTR=${hex(v.idtr.base)}/${v.idtr.limit.toString(16).toUpperCase()}`;
}
