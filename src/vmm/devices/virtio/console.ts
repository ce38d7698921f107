// A virtio console (device ID 3) behind the legacy virtio PCI register
// block at a fixed I/O base. There is no PCI configuration space: the guest
// knows the base (0xC000 unless configured), as it would after reading BAR0.
//
// The two queues of a single-port console (virtio 1.1, 5.3.2): receiveq 0
// (device-writable buffers the host fills from `feed`) and transmitq 1
// (device-readable buffers whose bytes go to `onOutput`). Work happens
// synchronously inside the notify write, so when the OUT to QUEUE_NOTIFY
// completes the used ring is already updated. The interrupt is the legacy
// INTx: ISR bit 0 set and the line raised; the line stays up until the guest
// reads ISR (which clears it), as a level-triggered PCI interrupt does.
//
// Bad guest input (rings outside memory, descriptor indices out of range,
// looping chains, wrong buffer direction, queues used before they are set
// up) never throws: the device sets NEEDS_RESET, raises a configuration
// interrupt, records a message, and ignores the queues until reset.

import type { IoDevice } from '../../../x86/devices/iobus';
import { NO_SINK, type InterruptSink } from '../irq';
import {
  CONSOLE_CONFIG, CONSOLE_CONFIG_SIZE, CONSOLE_RECEIVEQ, CONSOLE_TRANSMITQ, ISR_CONFIG, ISR_QUEUE,
  VIRTIO_CONSOLE_F_EMERG_WRITE, VIRTIO_CONSOLE_F_SIZE, VIRTIO_PCI, VIRTIO_STATUS, VRING_AVAIL_F_NO_INTERRUPT,
  ringLayout, type RingLayout,
} from './layout';
import { NO_MEMORY, SplitRing, type Chain, type GuestMemoryAccess } from './ring';

export const VIRTIO_CONSOLE_PORT = 0xc000;
/** IRQ 5 is free on the PC platform (0 PIT, 2 cascade, 4 COM1, 8 RTC, 12-15 unused there too). */
export const VIRTIO_CONSOLE_IRQ = 5;
export const VIRTIO_CONSOLE_QUEUE_SIZE = 64;
/** Ports the device claims: the register block and the console configuration (32 bytes, like QEMU's BAR0). */
export const VIRTIO_CONSOLE_SPAN = VIRTIO_PCI.CONFIG + CONSOLE_CONFIG_SIZE;
const QUEUE_COUNT = 2;
const QUEUE_NAMES = ['receiveq', 'transmitq'];
/** Messages kept for a debugger; older ones are dropped first. */
const MAX_MESSAGES = 32;

export interface VirtioConsoleOptions {
  /** I/O base of the register block (default 0xC000). */
  port?: number;
  /** Interrupt line (default 5). */
  irq?: number;
  /** Entries per queue, a power of two up to 32768 (default 64). */
  queueSize?: number;
  /** Columns and rows reported in the configuration (VIRTIO_CONSOLE_F_SIZE). */
  cols?: number;
  rows?: number;
  memory?: GuestMemoryAccess;
}

/** Plain counters for comparing against an emulated device. */
export interface VirtioStats {
  /** Writes to QUEUE_NOTIFY (each one is an I/O exit). */
  notifications: number;
  txBuffers: number;
  txBytes: number;
  rxBuffers: number;
  rxBytes: number;
  /** Times the device signalled used buffers (ISR bit 0). */
  interrupts: number;
  /** Times used buffers were returned with VRING_AVAIL_F_NO_INTERRUPT set, so no interrupt. */
  suppressedInterrupts: number;
  /** Bytes written through emerg_wr. */
  emergencyBytes: number;
}

export interface VirtioQueueState {
  /** Page frame number of the ring, 0 while the queue is not set up. */
  pfn: number;
  /** Next available-ring index the device will consume (16-bit, free-running). */
  lastAvail: number;
  /** Next used-ring index the device will publish (16-bit, free-running). */
  usedIdx: number;
}

export interface VirtioConsoleState {
  status: number;
  guestFeatures: number;
  queueSelect: number;
  isr: number;
  irqHigh: boolean;
  queues: VirtioQueueState[];
  /** Host input waiting for receive buffers. */
  input: number[];
  messages: string[];
  stats: VirtioStats;
}

/** What a debugger shows about one queue. */
export interface VirtioQueueInfo extends VirtioQueueState {
  index: number;
  name: string;
  size: number;
  layout: RingLayout | null;
}

interface Register {
  offset: number;
  width: 1 | 2 | 4;
  read(): number;
  write?(value: number): void;
}

function initialState(): VirtioConsoleState {
  return {
    status: 0, guestFeatures: 0, queueSelect: 0, isr: 0, irqHigh: false,
    queues: Array.from({ length: QUEUE_COUNT }, () => ({ pfn: 0, lastAvail: 0, usedIdx: 0 })),
    input: [], messages: [],
    stats: { notifications: 0, txBuffers: 0, txBytes: 0, rxBuffers: 0, rxBytes: 0, interrupts: 0, suppressedInterrupts: 0, emergencyBytes: 0 },
  };
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16).toUpperCase()}`;

export class VirtioConsole implements IoDevice {
  readonly base: number;
  readonly irq: number;
  readonly queueSize: number;
  readonly deviceFeatures = VIRTIO_CONSOLE_F_SIZE | VIRTIO_CONSOLE_F_EMERG_WRITE;
  readonly cols: number;
  readonly rows: number;
  sink: InterruptSink = NO_SINK;
  /** Guest-physical memory the rings and buffers live in; connect it before the guest sets up queues. */
  memory: GuestMemoryAccess;
  /** Console output: the bytes of one transmit buffer chain, or one emergency-write byte. */
  onOutput: ((bytes: number[]) => void) | null = null;
  /** Called with each new message about bad guest input. */
  onMessage: ((message: string) => void) | null = null;

  private s = initialState();
  private readonly registers: (Register | undefined)[];

  constructor(options: VirtioConsoleOptions = {}) {
    this.base = options.port ?? VIRTIO_CONSOLE_PORT;
    this.irq = options.irq ?? VIRTIO_CONSOLE_IRQ;
    this.queueSize = options.queueSize ?? VIRTIO_CONSOLE_QUEUE_SIZE;
    if (!Number.isInteger(this.queueSize) || this.queueSize < 1 || this.queueSize > 32768 || (this.queueSize & (this.queueSize - 1)) !== 0) {
      throw new RangeError(`virtio queue size must be a power of two from 1 to 32768 (got ${this.queueSize})`);
    }
    this.cols = options.cols ?? 80;
    this.rows = options.rows ?? 25;
    this.memory = options.memory ?? NO_MEMORY;
    const P = VIRTIO_PCI;
    const C = P.CONFIG;
    const table: Register[] = [
      { offset: P.DEVICE_FEATURES, width: 4, read: () => this.deviceFeatures },
      { offset: P.GUEST_FEATURES, width: 4, read: () => this.s.guestFeatures, write: (v) => this.writeGuestFeatures(v) },
      { offset: P.QUEUE_PFN, width: 4, read: () => this.selected()?.pfn ?? 0, write: (v) => this.writeQueuePfn(v) },
      { offset: P.QUEUE_SIZE, width: 2, read: () => (this.selected() ? this.queueSize : 0) },
      { offset: P.QUEUE_SELECT, width: 2, read: () => this.s.queueSelect, write: (v) => { this.s.queueSelect = v & 0xffff; } },
      { offset: P.QUEUE_NOTIFY, width: 2, read: () => 0, write: (v) => this.notify(v & 0xffff) },
      { offset: P.STATUS, width: 1, read: () => this.s.status, write: (v) => this.writeStatus(v & 0xff) },
      { offset: P.ISR, width: 1, read: () => this.readIsr() },
      { offset: C + CONSOLE_CONFIG.COLS, width: 2, read: () => this.cols },
      { offset: C + CONSOLE_CONFIG.ROWS, width: 2, read: () => this.rows },
      { offset: C + CONSOLE_CONFIG.MAX_NR_PORTS, width: 4, read: () => 1 },
      { offset: C + CONSOLE_CONFIG.EMERG_WR, width: 4, read: () => 0, write: (v) => this.emergencyWrite(v & 0xff) },
    ];
    this.registers = new Array<Register | undefined>(VIRTIO_CONSOLE_SPAN).fill(undefined);
    for (const r of table) for (let k = 0; k < r.width; k++) this.registers[r.offset + k] = r;
  }

  attach(bus: { register(first: number, last: number, device: IoDevice): void }): void {
    bus.register(this.base, this.base + VIRTIO_CONSOLE_SPAN - 1, this);
  }

  get state(): Readonly<VirtioConsoleState> { return this.s; }
  get stats(): Readonly<VirtioStats> { return this.s.stats; }
  get messages(): readonly string[] { return this.s.messages; }
  get status(): number { return this.s.status; }

  /** Index, size, address and indices of queue `index`, for a debugger view. */
  queueInfo(index: number): VirtioQueueInfo | null {
    const q = this.s.queues[index];
    if (q === undefined) return null;
    return { index, name: QUEUE_NAMES[index], size: this.queueSize, ...q, layout: q.pfn === 0 ? null : ringLayout(q.pfn, this.queueSize) };
  }

  // Reads are composed byte by byte so that any access width works; only
  // the bytes an access covers have effects (a read that includes ISR clears it).
  in(port: number, size: 1 | 2 | 4): number {
    const off = port - this.base;
    let value = 0;
    for (let k = 0; k < size; k++) {
      const r = this.registers[off + k];
      const byte = r === undefined ? 0 : (r.read() >>> (8 * (off + k - r.offset))) & 0xff;
      value |= byte << (8 * k);
    }
    return value >>> 0;
  }

  // A write is split per register it covers; a partial write keeps the other bytes of the register.
  out(port: number, size: 1 | 2 | 4, value: number): void {
    const off = port - this.base;
    let k = 0;
    while (k < size) {
      const r = this.registers[off + k];
      if (r === undefined || r.write === undefined) { k++; continue; }
      let merged = r.read();
      while (k < size && off + k < r.offset + r.width) {
        const shift = 8 * (off + k - r.offset);
        merged = (merged & ~(0xff << shift)) | (((value >>> (8 * k)) & 0xff) << shift);
        k++;
      }
      r.write(merged >>> 0);
    }
  }

  /** Queues host input for the guest; it goes into receive buffers as the guest provides them. */
  feed(bytes: Iterable<number>): void {
    for (const b of bytes) this.s.input.push(b & 0xff);
    this.deliverInput(false);
  }

  snapshot(): VirtioConsoleState {
    const s = this.s;
    return {
      ...s, queues: s.queues.map((q) => ({ ...q })), input: [...s.input], messages: [...s.messages], stats: { ...s.stats },
    };
  }

  restore(state: VirtioConsoleState): void {
    this.s = {
      ...state, queues: state.queues.map((q) => ({ ...q })), input: [...state.input], messages: [...state.messages], stats: { ...state.stats },
    };
  }

  private selected(): VirtioQueueState | undefined {
    return this.s.queues[this.s.queueSelect];
  }

  private writeGuestFeatures(v: number): void {
    const extra = v & ~this.deviceFeatures;
    if (extra !== 0) this.note(`guest features ${hex(v)} include bits the device does not offer (${hex(extra)}); they are ignored`);
    this.s.guestFeatures = (v & this.deviceFeatures) >>> 0;
  }

  private writeQueuePfn(pfn: number): void {
    const q = this.selected();
    if (q === undefined) {
      this.note(`queue address ${hex(pfn)} written for queue ${this.s.queueSelect}, which does not exist (queues 0 and 1)`);
      return;
    }
    q.pfn = pfn;
    q.lastAvail = 0;
    q.usedIdx = 0;
    if (pfn === 0) return;
    const ring = SplitRing.open(this.memory, pfn, this.queueSize);
    if (typeof ring === 'string') this.fault(`${this.queueName(this.s.queueSelect)}: ${ring}`);
  }

  private writeStatus(v: number): void {
    if (v === 0) {
      this.reset();
      return;
    }
    const was = this.s.status;
    // NEEDS_RESET is the device's to set; only a reset clears it.
    this.s.status = (v & ~VIRTIO_STATUS.NEEDS_RESET) | (was & VIRTIO_STATUS.NEEDS_RESET);
    if ((was & VIRTIO_STATUS.DRIVER_OK) === 0 && (this.s.status & VIRTIO_STATUS.DRIVER_OK) !== 0) this.deliverInput(false);
  }

  /** Device reset (status 0): registers and queues; host input, messages and counters stay. */
  private reset(): void {
    const keep = this.s;
    this.lowerLine();
    this.s = { ...initialState(), input: keep.input, messages: keep.messages, stats: keep.stats };
  }

  private readIsr(): number {
    const v = this.s.isr;
    this.s.isr = 0;
    this.lowerLine();
    return v;
  }

  private emergencyWrite(byte: number): void {
    this.s.stats.emergencyBytes++;
    this.onOutput?.([byte]);
  }

  private notify(queue: number): void {
    this.s.stats.notifications++;
    if ((this.s.status & VIRTIO_STATUS.NEEDS_RESET) !== 0) return;
    if (queue === CONSOLE_TRANSMITQ) this.transmit();
    else if (queue === CONSOLE_RECEIVEQ) this.deliverInput(true);
    else this.fault(`notify names queue ${queue}; the console has queues 0 (receiveq) and 1 (transmitq)`);
  }

  private queueName(index: number): string {
    return `queue ${index} (${QUEUE_NAMES[index] ?? 'none'})`;
  }

  /** The ring of a set-up queue; `required` makes a queue without an address a fault. */
  private openQueue(index: number, required: boolean): SplitRing | null {
    const q = this.s.queues[index];
    if (q.pfn === 0) {
      if (required) this.fault(`${this.queueName(index)} was notified before its address was set`);
      return null;
    }
    const ring = SplitRing.open(this.memory, q.pfn, this.queueSize);
    if (typeof ring === 'string') {
      this.fault(`${this.queueName(index)}: ${ring}`);
      return null;
    }
    return ring;
  }

  /** Entries the driver has made available since the device last looked (2.6.6), or null after a fault. */
  private available(index: number, ring: SplitRing): number | null {
    const q = this.s.queues[index];
    const idx = ring.availIdx();
    const n = (idx - q.lastAvail) & 0xffff;
    if (n > this.queueSize) {
      this.fault(`${this.queueName(index)}: available idx ${idx} is ${n} entries ahead of the device's ${q.lastAvail}, more than the queue size ${this.queueSize}`);
      return null;
    }
    return n;
  }

  /** Takes the next available chain, or faults and returns null. */
  private take(index: number, ring: SplitRing, writable: boolean): Chain | null {
    const q = this.s.queues[index];
    const head = ring.availHead(q.lastAvail);
    const chain = ring.chain(head);
    if (typeof chain === 'string') {
      this.fault(`${this.queueName(index)}: ${chain}`);
      return null;
    }
    // The console's transmit buffers are device-readable and its receive buffers device-writable (5.3.6).
    if (chain.buffers.some((b) => b.writable !== writable)) {
      this.fault(`${this.queueName(index)}: chain from descriptor ${head} has a device-${writable ? 'readable' : 'writable'} buffer`);
      return null;
    }
    q.lastAvail = (q.lastAvail + 1) & 0xffff;
    return chain;
  }

  private transmit(): void {
    const ring = this.openQueue(CONSOLE_TRANSMITQ, true);
    if (ring === null) return;
    const n = this.available(CONSOLE_TRANSMITQ, ring);
    if (n === null) return;
    const q = this.s.queues[CONSOLE_TRANSMITQ];
    const st = this.s.stats;
    let used = 0;
    for (let k = 0; k < n; k++) {
      const chain = this.take(CONSOLE_TRANSMITQ, ring, false);
      if (chain === null) break;
      const bytes: number[] = [];
      // No spread: a buffer may be far larger than an argument list can be.
      for (const b of chain.buffers) for (const x of ring.read(b)) bytes.push(x);
      // len counts bytes the device wrote into the chain (2.6.8): none for a transmit buffer.
      q.usedIdx = ring.pushUsed(q.usedIdx, chain.head, 0);
      used++;
      st.txBuffers++;
      st.txBytes += bytes.length;
      if (bytes.length > 0) this.onOutput?.(bytes);
    }
    if (used > 0) this.usedBuffersReturned(ring);
  }

  /** Moves waiting host input into receive buffers; a notify without a set-up queue is a fault. */
  private deliverInput(fromNotify: boolean): void {
    const s = this.s;
    if ((s.status & VIRTIO_STATUS.NEEDS_RESET) !== 0) return;
    if (!fromNotify && (s.input.length === 0 || s.queues[CONSOLE_RECEIVEQ].pfn === 0)) return;
    const ring = this.openQueue(CONSOLE_RECEIVEQ, true);
    if (ring === null) return;
    const n = this.available(CONSOLE_RECEIVEQ, ring);
    if (n === null) return;
    const q = s.queues[CONSOLE_RECEIVEQ];
    let used = 0;
    for (let k = 0; k < n && s.input.length > 0; k++) {
      const chain = this.take(CONSOLE_RECEIVEQ, ring, true);
      if (chain === null) break;
      let written = 0;
      for (const b of chain.buffers) {
        const part = s.input.splice(0, Math.min(b.len, s.input.length));
        ring.write(b.addr, part);
        written += part.length;
      }
      q.usedIdx = ring.pushUsed(q.usedIdx, chain.head, written);
      used++;
      s.stats.rxBuffers++;
      s.stats.rxBytes += written;
    }
    if (used > 0) this.usedBuffersReturned(ring);
  }

  /** Used-buffer notification (2.6.7): an interrupt unless the driver suppressed it. */
  private usedBuffersReturned(ring: SplitRing): void {
    if ((ring.availFlags() & VRING_AVAIL_F_NO_INTERRUPT) !== 0) {
      this.s.stats.suppressedInterrupts++;
      return;
    }
    this.s.stats.interrupts++;
    this.raise(ISR_QUEUE);
  }

  private raise(bit: number): void {
    this.s.isr |= bit;
    if (!this.s.irqHigh) {
      this.s.irqHigh = true;
      this.sink.raiseIrq(this.irq);
    }
  }

  private lowerLine(): void {
    if (this.s.irqHigh) {
      this.s.irqHigh = false;
      this.sink.lowerIrq(this.irq);
    }
  }

  private note(message: string): void {
    const m = this.s.messages;
    m.push(message);
    if (m.length > MAX_MESSAGES) m.splice(0, m.length - MAX_MESSAGES);
    this.onMessage?.(message);
  }

  /** Bad guest input: NEEDS_RESET plus a configuration interrupt, as a 1.x device reports an error (2.1.2). */
  private fault(message: string): void {
    this.note(message);
    if ((this.s.status & VIRTIO_STATUS.NEEDS_RESET) !== 0) return;
    this.s.status |= VIRTIO_STATUS.NEEDS_RESET;
    this.raise(ISR_CONFIG);
  }
}
