// VM-execution, VM-exit and VM-entry control bits (vmx-facts §3). Names are
// the Linux names the reference lists (feature names for the execution
// controls, mask names for exit/entry controls); bits only Bochs names carry
// source 'bochs'.
import type { VmcsFieldName } from './fields';

export interface ControlBit {
  bit: number;
  name: string;
  description: string;
  source: 'linux' | 'mainline' | 'bochs';
}

export type ControlSetId = 'pin' | 'primary' | 'secondary' | 'tertiary' | 'exit' | 'entry';

export interface ControlSet {
  id: ControlSetId;
  title: string;
  /** The VMCS field that holds the control word. */
  field: VmcsFieldName;
  /** Width of the control word: the tertiary controls are a 64-bit field. */
  bits: 32 | 64;
  /**
   * The default1 class: bits that read as 1 in the non-TRUE capability MSR and
   * so must be 1 unless the TRUE_* MSRs say otherwise (SDM Appendix A; Linux
   * *_ALWAYSON_WITHOUT_TRUE_MSR). Zero for sets without such a class.
   */
  default1: number;
  controls: readonly ControlBit[];
}

type Row = [number, string, string, ('mainline' | 'bochs')?];

function bits(rows: Row[]): ControlBit[] {
  return rows.map(([bit, name, description, source]) => ({ bit, name, description, source: source ?? 'linux' }));
}

const PIN = bits([
  [0, 'INTR_EXITING', 'VM exit on external interrupts'],
  [3, 'NMI_EXITING', 'VM exit on NMIs'],
  [5, 'VIRTUAL_NMIS', 'NMI virtualization (virtual-NMI blocking)'],
  [6, 'PREEMPTION_TIMER', 'VMX-preemption timer counts down in the guest'],
  [7, 'POSTED_INTR', 'process posted interrupts'],
]);

const PRIMARY = bits([
  [2, 'INTR_WINDOW_EXITING', 'VM exit as soon as the guest can take interrupts'],
  [3, 'USE_TSC_OFFSETTING', 'add TSC_OFFSET to the TSC the guest reads'],
  [7, 'HLT_EXITING', 'VM exit on HLT'],
  [9, 'INVLPG_EXITING', 'VM exit on INVLPG'],
  [10, 'MWAIT_EXITING', 'VM exit on MWAIT'],
  [11, 'RDPMC_EXITING', 'VM exit on RDPMC'],
  [12, 'RDTSC_EXITING', 'VM exit on RDTSC'],
  [15, 'CR3_LOAD_EXITING', 'VM exit on writes to CR3 (unless the value is a CR3 target)'],
  [16, 'CR3_STORE_EXITING', 'VM exit on reads from CR3'],
  [17, 'TERTIARY_CONTROLS', 'enable the tertiary processor-based controls'],
  [19, 'CR8_LOAD_EXITING', 'VM exit on writes to CR8'],
  [20, 'CR8_STORE_EXITING', 'VM exit on reads from CR8'],
  [21, 'VIRTUAL_TPR', 'TPR virtualization (TPR shadow)'],
  [22, 'NMI_WINDOW_EXITING', 'VM exit as soon as the guest can take NMIs'],
  [23, 'MOV_DR_EXITING', 'VM exit on MOV to/from debug registers'],
  [24, 'UNCOND_IO_EXITING', 'VM exit on every IN/INS/OUT/OUTS'],
  [25, 'USE_IO_BITMAPS', 'VM exit on I/O selected by the I/O bitmaps'],
  [27, 'MONITOR_TRAP_FLAG', 'VM exit after each guest instruction (VMM-level single step)'],
  [28, 'USE_MSR_BITMAPS', 'VM exit on RDMSR/WRMSR selected by the MSR bitmap'],
  [29, 'MONITOR_EXITING', 'VM exit on MONITOR'],
  [30, 'PAUSE_EXITING', 'VM exit on PAUSE'],
  [31, 'SEC_CONTROLS', 'enable the secondary processor-based controls'],
]);

const SECONDARY = bits([
  [0, 'VIRT_APIC_ACCESSES', 'virtualize accesses to the APIC-access page'],
  [1, 'EPT', 'extended page tables (two-dimensional paging)'],
  [2, 'DESC_EXITING', 'VM exit on LGDT/LIDT/LLDT/LTR/SGDT/SIDT/SLDT/STR'],
  [3, 'RDTSCP', 'enable RDTSCP in the guest'],
  [4, 'VIRTUAL_X2APIC', 'virtualize x2APIC mode'],
  [5, 'VPID', 'tag TLB entries with the VPID'],
  [6, 'WBINVD_EXITING', 'VM exit on WBINVD'],
  [7, 'UNRESTRICTED_GUEST', 'allow unpaged protected mode and real mode in the guest'],
  [8, 'APIC_REGISTER_VIRT', 'virtualize reads of virtual-APIC registers'],
  [9, 'VIRT_INTR_DELIVERY', 'evaluate and deliver pending virtual interrupts'],
  [10, 'PAUSE_LOOP_EXITING', 'VM exit on PAUSE loops at CPL 0'],
  [11, 'RDRAND_EXITING', 'VM exit on RDRAND'],
  [12, 'INVPCID', 'enable INVPCID in the guest'],
  [13, 'VMFUNC', 'enable VM functions'],
  [14, 'SHADOW_VMCS', 'guest VMREAD/VMWRITE may use a shadow VMCS'],
  [15, 'ENCLS_EXITING', 'VM exit on ENCLS leaves in the ENCLS-exiting bitmap'],
  [16, 'RDSEED_EXITING', 'VM exit on RDSEED'],
  [17, 'PAGE_MOD_LOGGING', 'log guest-physical addresses of dirtied pages'],
  [18, 'EPT_VIOLATION_VE', 'deliver some EPT violations as #VE'],
  [19, 'PT_CONCEAL_VMX', 'hide VMX operation from Processor Trace'],
  [20, 'XSAVES', 'enable XSAVES/XRSTORS in the guest'],
  [22, 'MODE_BASED_EPT_EXEC', 'separate EPT execute permissions for supervisor and user'],
  [23, 'SUBPAGE_WR_PROTECT_CTRL', 'sub-page write permissions for EPT', 'bochs'],
  [24, 'PT_USE_GPA', 'Processor Trace logs guest-physical addresses'],
  [25, 'TSC_SCALING', 'scale the TSC the guest reads by TSC_MULTIPLIER'],
  [26, 'USR_WAIT_PAUSE', 'enable TPAUSE, UMONITOR and UMWAIT in the guest'],
  [27, 'PCONFIG_ENABLE', 'enable PCONFIG in the guest', 'bochs'],
  [28, 'ENCLV_EXITING', 'VM exit on ENCLV leaves in the ENCLV-exiting bitmap'],
  [30, 'BUS_LOCK_DETECTION', 'VM exit after a bus lock'],
  [31, 'NOTIFY_VM_EXITING', 'VM exit when no event window opens within the notify window'],
]);

const TERTIARY = bits([
  [0, 'LOADIWKEY_VMEXIT', 'VM exit on LOADIWKEY', 'bochs'],
  [1, 'HLAT_ENABLE', 'hypervisor-managed linear-address translation', 'bochs'],
  [2, 'EPT_PAGING_WRITE', 'EPT paging-write control', 'bochs'],
  [3, 'GUEST_PAGING_VERIFICATION', 'guest-paging verification', 'bochs'],
  [4, 'IPI_VIRT', 'IPI virtualization'],
  [6, 'ENABLE_MSRLIST', 'enable RDMSRLIST/WRMSRLIST in the guest', 'bochs'],
  [7, 'VIRTUALIZE_IA32_SPEC_CTRL', 'virtualize IA32_SPEC_CTRL', 'bochs'],
  [8, 'APIC_TIMER_VIRTUALIZATION', 'virtualize the APIC timer', 'bochs'],
]);

const EXIT = bits([
  [2, 'VM_EXIT_SAVE_DEBUG_CONTROLS', 'save guest DR7 and IA32_DEBUGCTL on exit'],
  [9, 'VM_EXIT_HOST_ADDR_SPACE_SIZE', 'host runs in 64-bit mode after the exit (0 on an IA-32 host)'],
  [12, 'VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL', 'load host IA32_PERF_GLOBAL_CTRL on exit'],
  [15, 'VM_EXIT_ACK_INTR_ON_EXIT', 'acknowledge the external interrupt on exit and store its vector'],
  [18, 'VM_EXIT_SAVE_IA32_PAT', 'save guest IA32_PAT on exit'],
  [19, 'VM_EXIT_LOAD_IA32_PAT', 'load host IA32_PAT on exit'],
  [20, 'VM_EXIT_SAVE_IA32_EFER', 'save guest IA32_EFER on exit'],
  [21, 'VM_EXIT_LOAD_IA32_EFER', 'load host IA32_EFER on exit'],
  [22, 'VM_EXIT_SAVE_VMX_PREEMPTION_TIMER', 'save the VMX-preemption timer value on exit'],
  [23, 'VM_EXIT_CLEAR_BNDCFGS', 'clear IA32_BNDCFGS on exit'],
  [24, 'VM_EXIT_PT_CONCEAL_PIP', 'hide the exit from Processor Trace'],
  [25, 'VM_EXIT_CLEAR_IA32_RTIT_CTL', 'clear IA32_RTIT_CTL on exit'],
  [28, 'VM_EXIT_LOAD_CET_STATE', 'load host CET state on exit', 'mainline'],
]);

const ENTRY = bits([
  [2, 'VM_ENTRY_LOAD_DEBUG_CONTROLS', 'load guest DR7 and IA32_DEBUGCTL on entry'],
  [9, 'VM_ENTRY_IA32E_MODE', 'guest is in IA-32e mode after entry'],
  [10, 'VM_ENTRY_SMM', 'entry to system-management mode'],
  [11, 'VM_ENTRY_DEACT_DUAL_MONITOR', 'deactivate the dual-monitor treatment of SMIs'],
  [13, 'VM_ENTRY_LOAD_IA32_PERF_GLOBAL_CTRL', 'load guest IA32_PERF_GLOBAL_CTRL on entry'],
  [14, 'VM_ENTRY_LOAD_IA32_PAT', 'load guest IA32_PAT on entry'],
  [15, 'VM_ENTRY_LOAD_IA32_EFER', 'load guest IA32_EFER on entry'],
  [16, 'VM_ENTRY_LOAD_BNDCFGS', 'load guest IA32_BNDCFGS on entry'],
  [17, 'VM_ENTRY_PT_CONCEAL_PIP', 'hide the entry from Processor Trace'],
  [18, 'VM_ENTRY_LOAD_IA32_RTIT_CTL', 'load guest IA32_RTIT_CTL on entry'],
  [20, 'VM_ENTRY_LOAD_CET_STATE', 'load guest CET state on entry', 'mainline'],
]);

// Linux asm/vmx.h: PIN_BASED_ALWAYSON_WITHOUT_TRUE_MSR 0x16, CPU_BASED_… 0x0401e172,
// VM_EXIT_… 0x00036dff, VM_ENTRY_… 0x000011ff (SDM A.3.1, A.3.2, A.4, A.5).
export const CONTROL_SETS: readonly ControlSet[] = [
  { id: 'pin', title: 'pin-based VM-execution controls', field: 'PIN_BASED_VM_EXEC_CONTROL', bits: 32, default1: 0x00000016, controls: PIN },
  { id: 'primary', title: 'primary processor-based VM-execution controls', field: 'CPU_BASED_VM_EXEC_CONTROL', bits: 32, default1: 0x0401e172, controls: PRIMARY },
  { id: 'secondary', title: 'secondary processor-based VM-execution controls', field: 'SECONDARY_VM_EXEC_CONTROL', bits: 32, default1: 0, controls: SECONDARY },
  { id: 'tertiary', title: 'tertiary processor-based VM-execution controls', field: 'TERTIARY_VM_EXEC_CONTROL', bits: 64, default1: 0, controls: TERTIARY },
  { id: 'exit', title: 'primary VM-exit controls', field: 'VM_EXIT_CONTROLS', bits: 32, default1: 0x00036dff, controls: EXIT },
  { id: 'entry', title: 'VM-entry controls', field: 'VM_ENTRY_CONTROLS', bits: 32, default1: 0x000011ff, controls: ENTRY },
];

export function controlSet(id: ControlSetId): ControlSet {
  const s = CONTROL_SETS.find((c) => c.id === id);
  if (!s) throw new Error(`no control set '${id}'`);
  return s;
}

/** The mask of one named control, e.g. controlMask('primary', 'HLT_EXITING') === 0x80. */
/** Masks already looked up, per set: the exit paths ask for the same few controls on every exit. */
const MASK_CACHE = new Map<ControlSetId, Map<string, number>>();

export function controlMask(id: ControlSetId, name: string): number {
  let cache = MASK_CACHE.get(id);
  if (cache === undefined) { cache = new Map(); MASK_CACHE.set(id, cache); }
  const known = cache.get(name);
  if (known !== undefined) return known;
  const mask = findMask(id, name);
  cache.set(name, mask);
  return mask;
}

function findMask(id: ControlSetId, name: string): number {
  const c = controlSet(id).controls.find((b) => b.name === name);
  if (!c) throw new Error(`no control '${name}' in the ${id} controls`);
  if (c.bit > 31) throw new Error(`control '${name}' is above bit 31`);
  return (2 ** c.bit) >>> 0;
}

export interface DecodedControls {
  /** Named controls that are set, lowest bit first. */
  set: ControlBit[];
  /** Set bits that are neither named controls nor default1 bits. */
  unknownBits: number[];
  /** default1 bits that are set (reserved bits that must be 1 without TRUE MSRs). */
  default1Set: number[];
  /** default1 bits that are clear. */
  default1Clear: number[];
  /** "HLT_EXITING | USE_IO_BITMAPS | SEC_CONTROLS", or "none". */
  summary: string;
}

/** Decodes a control word (low 32 bits; for the tertiary set pass `high` for bits 63:32). */
export function decodeControls(id: ControlSetId, value: number, high = 0): DecodedControls {
  const s = controlSet(id);
  const isSet = (bit: number): boolean => ((bit < 32 ? value >>> bit : high >>> (bit - 32)) & 1) === 1;
  const set = s.controls.filter((c) => isSet(c.bit));
  const named = new Set(s.controls.map((c) => c.bit));
  const unknownBits: number[] = [];
  const default1Set: number[] = [];
  const default1Clear: number[] = [];
  for (let bit = 0; bit < s.bits; bit++) {
    const d1 = bit < 32 && ((s.default1 >>> bit) & 1) === 1;
    if (d1) (isSet(bit) ? default1Set : default1Clear).push(bit);
    else if (isSet(bit) && !named.has(bit)) unknownBits.push(bit);
  }
  const names = set.map((c) => c.name).concat(unknownBits.map((b) => `bit${b}`));
  return { set, unknownBits, default1Set, default1Clear, summary: names.length ? names.join(' | ') : 'none' };
}

/** Builds a control word from names; default1 bits included unless told otherwise. */
export function encodeControls(id: ControlSetId, names: readonly string[], withDefault1 = true): number {
  let v = withDefault1 ? controlSet(id).default1 : 0;
  for (const name of names) v |= controlMask(id, name);
  return v >>> 0;
}
