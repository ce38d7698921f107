// The emulated platform devices a VM sees (docs/vmm-devices.md).
export { NO_SINK, pulse } from './irq';
export type { InterruptSink } from './irq';
export { PicPair, Pic8259, PIC_MASTER, PIC_SLAVE, ELCR_PORT, CASCADE_IR } from './pic';
export type { PicPairState, PicChipState } from './pic';
export { Pit8254, PIT_BASE, PIT_CONTROL, PIT_HZ } from './pit';
export type { PitState, PitChannelState } from './pit';
export { SystemControlPortB, PORT_B, REFRESH_PERIOD_TICKS } from './portb';
export type { PortBState } from './portb';
export { Uart16550, COM1_BASE, COM1_IRQ } from './uart';
export type { UartState } from './uart';
export { LocalApic, APIC, APIC_BASE_ADDRESS, APIC_VERSION } from './lapic';
export type { LapicState, IpiMessage } from './lapic';
export { DebugExit, DEBUG_EXIT_PORT } from './debugexit';
export type { DebugExitState } from './debugexit';
export { ClockDivider } from './clock';
export type { ClockState } from './clock';
export { PcPlatform, runWithPlatform } from './platform';
export type { PlatformOptions, PlatformState } from './platform';
