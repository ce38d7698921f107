// Control bits resolved once to a VMCS slot and mask. The exit and entry
// paths and the interception hooks test several controls per exit; looking
// a control up by name (field name, then bit name) each time was a visible
// part of an exit's cost.
import { controlMask, vmcsSlot, type ControlSetId, type VmcsFieldName } from '../vmx';

const CONTROL_FIELDS: Readonly<Record<ControlSetId, VmcsFieldName>> = {
  pin: 'PIN_BASED_VM_EXEC_CONTROL', primary: 'CPU_BASED_VM_EXEC_CONTROL', secondary: 'SECONDARY_VM_EXEC_CONTROL',
  tertiary: 'TERTIARY_VM_EXEC_CONTROL', exit: 'VM_EXIT_CONTROLS', entry: 'VM_ENTRY_CONTROLS',
};

/** One control bit resolved to its VMCS slot and mask; secondary controls also need "activate secondary controls". */
export interface ControlRef { readonly slot: number; readonly mask: number; readonly secondary: boolean }

export const PRIMARY_CONTROLS_SLOT = vmcsSlot('CPU_BASED_VM_EXEC_CONTROL');
export const SEC_CONTROLS_MASK = controlMask('primary', 'SEC_CONTROLS');
const CONTROL_REFS: Readonly<Record<ControlSetId, Map<string, ControlRef>>> = {
  pin: new Map(), primary: new Map(), secondary: new Map(), tertiary: new Map(), exit: new Map(), entry: new Map(),
};

/** The control `name` of `set`, resolved once (an unknown name throws, as `controlMask` does). */
export function controlRef(set: ControlSetId, name: string): ControlRef {
  const refs = CONTROL_REFS[set];
  let ref = refs.get(name);
  if (ref === undefined) {
    ref = { slot: vmcsSlot(CONTROL_FIELDS[set]), mask: controlMask(set, name), secondary: set === 'secondary' };
    refs.set(name, ref);
  }
  return ref;
}

/** The controls the exit and entry paths and the interception hooks test. */
export const CTL = {
  hlt: controlRef('primary', 'HLT_EXITING'), rdpmc: controlRef('primary', 'RDPMC_EXITING'), wbinvd: controlRef('secondary', 'WBINVD_EXITING'),
  monitor: controlRef('primary', 'MONITOR_EXITING'), pause: controlRef('primary', 'PAUSE_EXITING'), mwait: controlRef('primary', 'MWAIT_EXITING'),
  rdtsc: controlRef('primary', 'RDTSC_EXITING'), tscOffset: controlRef('primary', 'USE_TSC_OFFSETTING'), rdtscp: controlRef('secondary', 'RDTSCP'),
  invlpg: controlRef('primary', 'INVLPG_EXITING'), movDr: controlRef('primary', 'MOV_DR_EXITING'),
  ioBitmaps: controlRef('primary', 'USE_IO_BITMAPS'), uncondIo: controlRef('primary', 'UNCOND_IO_EXITING'),
  msrBitmaps: controlRef('primary', 'USE_MSR_BITMAPS'), desc: controlRef('secondary', 'DESC_EXITING'),
  cr3Load: controlRef('primary', 'CR3_LOAD_EXITING'), cr3Store: controlRef('primary', 'CR3_STORE_EXITING'),
  vpid: controlRef('secondary', 'VPID'), mtf: controlRef('primary', 'MONITOR_TRAP_FLAG'),
  intrWindow: controlRef('primary', 'INTR_WINDOW_EXITING'), nmiWindow: controlRef('primary', 'NMI_WINDOW_EXITING'),
  virtualNmis: controlRef('pin', 'VIRTUAL_NMIS'), preemptionTimer: controlRef('pin', 'PREEMPTION_TIMER'),
  intrExiting: controlRef('pin', 'INTR_EXITING'), nmiExiting: controlRef('pin', 'NMI_EXITING'),
  ackIntrOnExit: controlRef('exit', 'VM_EXIT_ACK_INTR_ON_EXIT'), savePreemptionTimer: controlRef('exit', 'VM_EXIT_SAVE_VMX_PREEMPTION_TIMER'),
} as const;
