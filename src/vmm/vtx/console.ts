// A VM's console output in order, from its two sources: the VM's output
// events and the machine's own capture of the string I/O the CPU performs.

import type { Vm } from './vm';

type CapturedPort = 'com1' | 'e9' | 'lpt1';
const CAPTURED_PORTS: readonly CapturedPort[] = ['com1', 'e9', 'lpt1'];
/** `output` event sources of the I/O handler → the machine's console capture they also land in. */
const PORT_SOURCES: Readonly<Record<string, CapturedPort>> = { 'port 3F8h': 'com1', 'port E9h': 'e9', 'port 378h': 'lpt1' };

/**
 * Calls `emit` with guest console bytes in order: the VM's output events
 * (console ports, hypercall console, UART, virtio) and the string I/O the CPU
 * carries out on the machine's bus, which only the machine's capture sees.
 * Returns `sync`, to call at each stop and exit.
 */
export function collectConsole(vm: Vm, emit: (source: string, bytes: number[]) => void): () => void {
  const capture = vm.bus === vm.machine.io ? vm.machine.console : undefined;
  const reported: Record<CapturedPort, number> = { com1: 0, e9: 0, lpt1: 0 };
  const sync = (): void => {
    if (capture === undefined) return;
    for (const port of CAPTURED_PORTS) {
      const all = capture[port];
      if (all.length > reported[port]) {
        emit(port, all.slice(reported[port]));
        reported[port] = all.length;
      }
    }
  };
  vm.events.on('output', (o) => {
    const port = PORT_SOURCES[o.source];
    if (port !== undefined) reported[port] += o.bytes.length;
    emit(o.source, o.bytes);
  });
  vm.events.on('exit', () => sync());
  return sync;
}
