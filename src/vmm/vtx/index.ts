// The VT-x core: vCPUs with a VMCS, controls that decide exits, exit handlers, statistics.
export { createVm, Vm, DEFAULT_CONTROLS, DEFAULT_EXCEPTION_BITMAP, DEFAULT_CR0_MASK, DEFAULT_CR4_MASK } from './vm';
export type { VmOptions, VmStop, VmEvents } from './vm';
export { Vcpu } from './vcpu';
export type { ExitAction, ExitSink, VmStopReason } from './vcpu';
export type { VmExit, ExitRequest } from './exit-info';
export { memoryOperandInfo, descriptorTableInfo, vmxInstructionInfo } from './exit-info';
export { IoBitmaps, MsrBitmap } from './bitmaps';
export { CpuidTable, HYPERVISOR_LEAF, HYPERVISOR_SIGNATURE, CPUID_1_ECX_HYPERVISOR, packSignature } from './cpuid';
export type { CpuidRegs } from './cpuid';
export { DEFAULT_HANDLERS } from './handlers';
export type { ExitHandler, HandlerContext } from './handlers';
export { HYPERCALL, HYPERCALL_NAMES, HC_ENOSYS, HC_EPERM, HC_EINVAL, CONSOLE_WRITE_MAX } from './hypercalls';
export { ExitStats } from './stats';
export type { ExitCostModel, ExitStatsReport, ReasonStat, KeyStat } from './stats';
export { Emitter } from './emitter';
export { saveGuestState, loadGuestState, fillHostState } from './guest-state';
export { ENTRY_CHECKS, ENTRY_CHECK_LISTS, ENTRY_FAIL_DEFAULT, ENTRY_FAIL_NMI, ENTRY_FAIL_VMCS_LINK_PTR, checkVmEntry, entryCheckFailures } from './entry-checks';
export type { EntryCheck, EntryCheckFailure, EntryCheckList, CheckContext } from './entry-checks';
