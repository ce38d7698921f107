// The port-I/O bus: devices claim port ranges; unclaimed ports read as all
// ones and swallow writes, as on a PC with nothing decoding the address.

export interface IoDevice {
  in(port: number, size: 1 | 2 | 4): number;
  out(port: number, size: 1 | 2 | 4, value: number): void;
}

export class IoBus {
  private readonly map: (IoDevice | undefined)[] = new Array<IoDevice | undefined>(0x10000).fill(undefined);

  register(portFirst: number, portLast: number, device: IoDevice): void {
    for (let p = portFirst; p <= portLast; p++) this.map[p & 0xffff] = device;
  }

  unregister(portFirst: number, portLast: number): void {
    for (let p = portFirst; p <= portLast; p++) this.map[p & 0xffff] = undefined;
  }

  deviceAt(port: number): IoDevice | undefined {
    return this.map[port & 0xffff];
  }

  in(port: number, size: 1 | 2 | 4): number {
    const d = this.map[port & 0xffff];
    if (d === undefined) return size === 1 ? 0xff : size === 2 ? 0xffff : 0xffffffff;
    return d.in(port & 0xffff, size) >>> 0;
  }

  out(port: number, size: 1 | 2 | 4, value: number): void {
    const d = this.map[port & 0xffff];
    if (d !== undefined) d.out(port & 0xffff, size, value >>> 0);
  }
}
