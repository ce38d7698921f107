export { SoftVm, createSoftVm, SOFT_TECHNIQUES, SOFT_KERNEL_RINGS } from './soft-vm';
export type { SoftTechnique, SoftKernelRing, SoftVmOptions, SoftVmStop, SoftVmEvents, SoftTrap, SoftStopReason } from './soft-vm';
export type { HoleEvent } from './holes';
export type { SoftStatsReport, TrapStat, SoftCostTable } from './stats';
export { DEFAULT_SOFT_COSTS } from './stats';
export type { TranslatedBlock, TranslatedInstr } from './translator';
export { isCallout } from './translator';
export { PV_HYPERCALLS, PV_HYPERCALL_VECTOR } from './paravirt';
export { VMM_AREA, PV_SELECTORS } from './descriptors';
