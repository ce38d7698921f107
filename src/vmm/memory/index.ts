// Guest memory for the hypervisor: slots, EPT, the GVA→GPA→HPA walk.
export { HostAllocator, HostMemoryError } from './host';
export { MemorySlots, SlotError, GPA_LIMIT } from './slots';
export type { MemorySlot, RamSlot, MmioSlot, GpaResolution } from './slots';
export * from './eptFormat';
export { walkEpt, violationQualification, EPTQ, EXIT_EPT_VIOLATION, EXIT_EPT_MISCONFIG } from './eptWalk';
export type { EptAccess, EptAccessKind, EptStep, EptWalk, EptOk, EptViolation, EptMisconfig, EptWalkOptions } from './eptWalk';
export { Ept, EptError } from './ept';
export type { EptMapOptions, EptOptions } from './ept';
export { translateGva, decodeGuestEntry } from './translate';
export type { GuestAccess, GuestControlRegs, TranslateTarget, TranslateRequest, GuestEntryFlags, GuestPagingStep, GvaFault, GvaWalk, ShadowView } from './translate';
export { installEpt, EptExitSignal, describeExit } from './eptHook';
export type { EptExit, InstalledEpt } from './eptHook';
export { ShadowTables } from './shadow';
export type { ShadowEntry, ShadowLookup, ShadowRootState } from './shadow';
