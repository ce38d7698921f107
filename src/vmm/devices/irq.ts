// How devices signal interrupts. A device holds a sink and drives its
// request line: edge-triggered inputs latch on the low-to-high change, so a
// device that wants one interrupt per event lowers the line again (`pulse`).

export interface InterruptSink {
  raiseIrq(line: number): void;
  lowerIrq(line: number): void;
}

/** A sink that ignores everything; devices start with it until the VMM connects them. */
export const NO_SINK: InterruptSink = { raiseIrq: () => undefined, lowerIrq: () => undefined };

/** One edge on an edge-triggered line, leaving the line low. */
export function pulse(sink: InterruptSink, line: number): void {
  sink.raiseIrq(line);
  sink.lowerIrq(line);
}
