// vCPU scheduling on simulated physical CPUs, and the exit-trace fingerprint.
export { Scheduler } from './scheduler';
export type { VcpuRunState, SchedulerOptions, Slot, SchedulerView, SchedulerSnapshot, VcpuSchedStats, PcpuSchedStats } from './scheduler';
export { TraceHash, traceHash, traceText, exitWords } from './trace-hash';
export type { TraceHashState } from './trace-hash';
