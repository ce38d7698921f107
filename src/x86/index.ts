// Public surface of the guest machine layer.
export { Machine, FIRMWARE_IRET_OFF, FIRMWARE_IRET_SEG, FLAT_GDT_BASE } from './machine';
export type { MachineSnapshot, MachineStateSummary, CpuSnapshot, StopInfo, StopReason, ConsoleCapture } from './machine';
export { Cpu, CS, DS, ES, FS, GS, SS, REG_NAMES } from './cpu/cpu';
export type { RegName, TableReg } from './cpu/cpu';
export type { CpuIntercept, InstrHook, IoAccess, DescTableOp, VmxOp, ExceptionKind } from './cpu/intercept';
export { CpuFault, EXC, EXC_NAMES, VmExitSignal } from './cpu/fault';
export type { DeliveringEvent } from './cpu/fault';
export { SegReg } from './cpu/segment';
export type { SegmentCache } from './cpu/segment';
export { PhysicalMemory } from './mmu/memory';
export { Mmu, GRANT_READ, GRANT_WRITE, GRANT_FETCH, GRANT_ALL } from './mmu/paging';
export type { GpaTranslator } from './mmu/paging';
export { IoBus } from './devices/iobus';
export type { IoDevice } from './devices/iobus';
export { MsrSpace, MSR } from './devices/msr';
export type { MsrHandler } from './devices/msr';
export { ConsoleDevice } from './devices/console';
export * as flags from './cpu/flags';
