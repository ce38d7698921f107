// Basic exit reasons (exit-reason bits 15:0) and the flag bits above them
// (vmx-facts §1). `name` is what the product shows: the Linux EXIT_REASON_*
// suffix where Linux has one, otherwise a name in the same style made from the
// SDM/Bochs description (marked linux: false). Reserved numbers (35, 38, 42,
// 71, 82, 83) have no row.

export interface ExitReason {
  number: number;
  name: string;
  /** The descriptive SDM / Bochs name. */
  sdmName: string;
  description: string;
  /** True when Linux 6.12 (or later mainline, see `addedAfterLinux612`) names this reason. */
  linux: boolean;
  addedAfterLinux612?: boolean;
}

// [number, name, sdmName, description, linux?]  (linux: 1 = 6.12, 2 = later mainline, 0 = not in Linux)
const ROWS: readonly [number, string, string, string, 0 | 1 | 2][] = [
  [0, 'EXCEPTION_NMI', 'Exception or NMI', 'guest raised an exception whose bit is set in the exception bitmap, or an NMI arrived with NMI exiting on', 1],
  [1, 'EXTERNAL_INTERRUPT', 'External Interrupt', 'external interrupt arrived while external-interrupt exiting is on', 1],
  [2, 'TRIPLE_FAULT', 'Triple Fault', 'guest hit a triple fault (shutdown)', 1],
  [3, 'INIT_SIGNAL', 'INIT', 'INIT signal arrived', 1],
  [4, 'SIPI_SIGNAL', 'SIPI', 'start-up IPI arrived while the guest was in wait-for-SIPI state', 1],
  [5, 'IO_SMI', 'I/O SMI', 'SMI arrived right after an I/O instruction (dual-monitor SMM treatment only)', 0],
  [6, 'OTHER_SMI', 'SMI', 'other SMI (dual-monitor SMM treatment only)', 0],
  [7, 'INTERRUPT_WINDOW', 'Interrupt Window Exiting', 'guest became able to take interrupts while interrupt-window exiting is on', 1],
  [8, 'NMI_WINDOW', 'NMI Window Exiting', 'guest became able to take NMIs while NMI-window exiting is on', 1],
  [9, 'TASK_SWITCH', 'Task Switch', 'guest attempted a task switch', 1],
  [10, 'CPUID', 'CPUID', 'guest executed CPUID (always exits)', 1],
  [11, 'GETSEC', 'GETSEC', 'guest executed GETSEC (always exits)', 0],
  [12, 'HLT', 'HLT', 'guest executed HLT with HLT exiting on', 1],
  [13, 'INVD', 'INVD', 'guest executed INVD (always exits)', 1],
  [14, 'INVLPG', 'INVLPG', 'guest executed INVLPG with INVLPG exiting on', 1],
  [15, 'RDPMC', 'RDPMC', 'guest executed RDPMC with RDPMC exiting on', 1],
  [16, 'RDTSC', 'RDTSC', 'guest executed RDTSC with RDTSC exiting on', 1],
  [17, 'RSM', 'RSM', 'guest executed RSM in SMM (dual-monitor treatment only)', 0],
  [18, 'VMCALL', 'VMCALL', 'guest executed VMCALL (hypercall)', 1],
  [19, 'VMCLEAR', 'VMCLEAR', 'guest executed VMCLEAR', 1],
  [20, 'VMLAUNCH', 'VMLAUNCH', 'guest executed VMLAUNCH', 1],
  [21, 'VMPTRLD', 'VMPTRLD', 'guest executed VMPTRLD', 1],
  [22, 'VMPTRST', 'VMPTRST', 'guest executed VMPTRST', 1],
  [23, 'VMREAD', 'VMREAD', 'guest executed VMREAD (not satisfied by a shadow VMCS)', 1],
  [24, 'VMRESUME', 'VMRESUME', 'guest executed VMRESUME', 1],
  [25, 'VMWRITE', 'VMWRITE', 'guest executed VMWRITE (not satisfied by a shadow VMCS)', 1],
  [26, 'VMOFF', 'VMXOFF', 'guest executed VMXOFF', 1],
  [27, 'VMON', 'VMXON', 'guest executed VMXON', 1],
  [28, 'CR_ACCESS', 'CR Access', 'guest accessed a control register (MOV CR, CLTS, LMSW) as selected by CR masks, CR3 targets, CR3/CR8 exiting', 1],
  [29, 'DR_ACCESS', 'DR Access', 'guest executed MOV to/from a debug register with MOV-DR exiting on', 1],
  [30, 'IO_INSTRUCTION', 'I/O Instruction', 'guest executed IN/OUT/INS/OUTS on a port selected by unconditional I/O exiting or the I/O bitmaps', 1],
  [31, 'MSR_READ', 'RDMSR', 'guest executed RDMSR on an MSR selected by the MSR bitmap (or with MSR bitmaps off)', 1],
  [32, 'MSR_WRITE', 'WRMSR', 'guest executed WRMSR on an MSR selected by the MSR bitmap (or with MSR bitmaps off)', 1],
  [33, 'INVALID_STATE', 'VM-entry failure due to invalid guest state', 'VM entry failed: guest-state checks failed', 1],
  [34, 'MSR_LOAD_FAIL', 'VM-entry failure due to MSR loading', 'VM entry failed: loading an MSR from the VM-entry MSR-load area failed', 1],
  [36, 'MWAIT_INSTRUCTION', 'MWAIT', 'guest executed MWAIT with MWAIT exiting on', 1],
  [37, 'MONITOR_TRAP_FLAG', 'Monitor Trap Flag', 'one guest instruction completed with the monitor trap flag on (VMM-level single step)', 1],
  [39, 'MONITOR_INSTRUCTION', 'MONITOR', 'guest executed MONITOR with MONITOR exiting on', 1],
  [40, 'PAUSE_INSTRUCTION', 'PAUSE', 'guest executed PAUSE (PAUSE exiting, or the PAUSE-loop threshold was hit)', 1],
  [41, 'MCE_DURING_VMENTRY', 'VM-entry failure due to machine-check event', 'VM entry failed: machine-check event during entry', 1],
  [43, 'TPR_BELOW_THRESHOLD', 'TPR Below Threshold', 'virtual TPR dropped below the TPR threshold (TPR shadow)', 1],
  [44, 'APIC_ACCESS', 'APIC Access', 'guest accessed the APIC-access page (virtualize APIC accesses)', 1],
  [45, 'EOI_INDUCED', 'Virtualized EOI', 'guest EOI for a vector set in the EOI-exit bitmap (virtual-interrupt delivery)', 1],
  [46, 'GDTR_IDTR', 'Access to GDTR or IDTR', 'guest executed LGDT/LIDT/SGDT/SIDT with descriptor-table exiting on', 1],
  [47, 'LDTR_TR', 'Access to LDTR or TR', 'guest executed LLDT/LTR/SLDT/STR with descriptor-table exiting on', 1],
  [48, 'EPT_VIOLATION', 'EPT Violation', 'guest-physical access not permitted by the EPT entries', 1],
  [49, 'EPT_MISCONFIG', 'EPT Misconfiguration', 'an EPT paging-structure entry is misconfigured (often used on purpose to trap MMIO)', 1],
  [50, 'INVEPT', 'INVEPT', 'guest executed INVEPT', 1],
  [51, 'RDTSCP', 'RDTSCP', 'guest executed RDTSCP with RDTSC exiting on', 1],
  [52, 'PREEMPTION_TIMER', 'VMX-preemption timer expired', 'the VMX-preemption timer counted down to zero', 1],
  [53, 'INVVPID', 'INVVPID', 'guest executed INVVPID', 1],
  [54, 'WBINVD', 'WBINVD or WBNOINVD', 'guest executed WBINVD/WBNOINVD with WBINVD exiting on', 1],
  [55, 'XSETBV', 'XSETBV', 'guest executed XSETBV (always exits)', 1],
  [56, 'APIC_WRITE', 'APIC Write', 'guest wrote a virtual-APIC register that needs VMM emulation (trap-like)', 1],
  [57, 'RDRAND', 'RDRAND', 'guest executed RDRAND with RDRAND exiting on', 1],
  [58, 'INVPCID', 'INVPCID', 'guest executed INVPCID with INVLPG exiting on', 1],
  [59, 'VMFUNC', 'VMFUNC', 'guest executed VMFUNC and the function failed or was not enabled', 1],
  [60, 'ENCLS', 'ENCLS', 'guest executed ENCLS with its leaf selected by the ENCLS-exiting bitmap', 1],
  [61, 'RDSEED', 'RDSEED', 'guest executed RDSEED with RDSEED exiting on', 1],
  [62, 'PML_FULL', 'Page-modification log full', 'the page-modification log is full', 1],
  [63, 'XSAVES', 'XSAVES', 'guest executed XSAVES selected by the XSS-exiting bitmap', 1],
  [64, 'XRSTORS', 'XRSTORS', 'guest executed XRSTORS selected by the XSS-exiting bitmap', 1],
  [65, 'PCONFIG', 'PCONFIG', 'guest executed PCONFIG', 0],
  [66, 'SPP_EVENT', 'SPP-related event', 'sub-page-permission (SPP) related EPT event', 0],
  [67, 'UMWAIT', 'UMWAIT', 'guest executed UMWAIT with user-wait-and-pause controls', 1],
  [68, 'TPAUSE', 'TPAUSE', 'guest executed TPAUSE with user-wait-and-pause controls', 1],
  [69, 'LOADIWKEY', 'LOADIWKEY', 'guest executed LOADIWKEY (Key Locker)', 0],
  [70, 'ENCLV', 'ENCLV', 'guest executed ENCLV selected by the ENCLV-exiting bitmap', 0],
  [72, 'ENQCMD_PASID_FAIL', 'ENQCMD PASID translation failure', 'ENQCMD PASID translation failed', 0],
  [73, 'ENQCMDS_PASID_FAIL', 'ENQCMDS PASID translation failure', 'ENQCMDS PASID translation failed', 0],
  [74, 'BUS_LOCK', 'Bus lock', 'a bus lock was detected (VMM bus-lock detection)', 1],
  [75, 'NOTIFY', 'Notify window', 'notify window elapsed without an event window (guards against CPU-hogging guests)', 1],
  [76, 'SEAMCALL', 'SEAMCALL', 'guest executed SEAMCALL (TDX)', 2],
  [77, 'TDCALL', 'TDCALL', 'guest executed TDCALL (TDX)', 2],
  [78, 'RDMSRLIST', 'RDMSRLIST', 'guest executed RDMSRLIST', 0],
  [79, 'WRMSRLIST', 'WRMSRLIST', 'guest executed WRMSRLIST', 0],
  [80, 'URDMSR', 'URDMSR', 'guest executed URDMSR', 0],
  [81, 'UWRMSR', 'UWRMSR', 'guest executed UWRMSR', 0],
  [84, 'MSR_READ_IMM', 'RDMSR with immediate', 'guest executed RDMSR with an immediate MSR operand', 2],
  [85, 'MSR_WRITE_IMM', 'WRMSRNS with immediate', 'guest executed WRMSRNS with an immediate MSR operand', 2],
];

export const EXIT_REASONS: readonly ExitReason[] = ROWS.map(([number, name, sdmName, description, linux]) => ({
  number,
  name,
  sdmName,
  description,
  linux: linux !== 0,
  ...(linux === 2 ? { addedAfterLinux612: true } : {}),
}));

const BY_NUMBER = new Map(EXIT_REASONS.map((r) => [r.number, r]));
/** Basic reasons are small numbers: every VM exit names its reason through this array. */
const BY_INDEX: (ExitReason | undefined)[] = [];
for (const r of EXIT_REASONS) BY_INDEX[r.number] = r;
const BY_NAME = new Map(EXIT_REASONS.map((r) => [r.name, r]));

/** Basic exit-reason numbers by name: `EXIT_REASON.IO_INSTRUCTION === 30`. */
export const EXIT_REASON: Readonly<Record<string, number>> = Object.fromEntries(EXIT_REASONS.map((r) => [r.name, r.number]));

export function exitReason(basic: number): ExitReason | undefined {
  return BY_INDEX[basic];
}

export function exitReasonByName(name: string): ExitReason | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/** Flag bits of the 32-bit exit-reason field above the basic reason. */
export interface ExitReasonFlag {
  bit: number;
  name: string;
  description: string;
}

export const EXIT_REASON_FLAGS: readonly ExitReasonFlag[] = [
  { bit: 25, name: 'SHADOW_STACK_BUSY', description: 'shadow stack prematurely busy (Bochs)' },
  { bit: 26, name: 'BUS_LOCK_DETECTED', description: 'VMM bus-lock detection saw a bus lock (Bochs)' },
  { bit: 27, name: 'ENCLAVE_MODE', description: 'VM exit from SGX enclave mode' },
  { bit: 28, name: 'PENDING_MTF', description: 'pending MTF VM exit (SMM VM exits only)' },
  { bit: 29, name: 'FROM_VMX_ROOT', description: 'VM exit from VMX root operation (SMM VM exits only)' },
  { bit: 31, name: 'FAILED_VMENTRY', description: 'VM-entry failure' },
];

/** Linux EXIT_REASON_FAILED_VMENTRY. */
export const EXIT_REASON_FAILED_VMENTRY = 0x80000000;

export interface DecodedExitReason {
  raw: number;
  basic: number;
  /** Undefined for reserved basic numbers. */
  reason: ExitReason | undefined;
  entryFailure: boolean;
  flags: string[];
  /** e.g. "IO_INSTRUCTION (30)" or "INVALID_STATE (33), VM-entry failure". */
  summary: string;
}

export function decodeExitReason(value: number): DecodedExitReason {
  const raw = value >>> 0;
  const basic = raw & 0xffff;
  const reason = BY_NUMBER.get(basic);
  const flags = EXIT_REASON_FLAGS.filter((f) => (raw >>> f.bit) & 1).map((f) => f.name);
  const entryFailure = (raw >>> 31) === 1;
  const parts = [`${reason ? reason.name : 'reserved'} (${basic})`];
  if (entryFailure) parts.push('VM-entry failure');
  for (const f of flags) if (f !== 'FAILED_VMENTRY') parts.push(f);
  return { raw, basic, reason, entryFailure, flags, summary: parts.join(', ') };
}

/** The exit-reason field value for a basic reason, with bit 31 for failed VM entries. */
export function encodeExitReason(basic: number, entryFailure = false): number {
  return ((basic & 0xffff) | (entryFailure ? EXIT_REASON_FAILED_VMENTRY : 0)) >>> 0;
}
