// The Devices scope: the platform's device models as the guest would find
// them — COM1, the PIT channels, the virtio console with its rings, the
// debug-exit port and port 0x61. Read from device snapshots and guest memory,
// so looking never changes device state.
import type { PcPlatform } from '../../vmm/devices/platform';

/** The VT-x VM or the software VMM: both have the PC platform's devices. */
export interface HasPlatform {
  readonly platform: PcPlatform | null;
}
import type { PitChannelState } from '../../vmm/devices/pit';
import type { VirtioConsole, GuestMemoryAccess } from '../../vmm/devices/virtio/index';
import type { FormatOptions, VarNode } from './node';
import { fieldNodes, type BitField } from './bits';
import { memRef, fmtAddr, fmtNum, group, hex, leaf, yesNo } from './format';

const LSR_FIELDS: readonly BitField[] = [
  { name: 'DR', lsb: 0, description: 'data ready' }, { name: 'OE', lsb: 1, description: 'overrun error' },
  { name: 'PE', lsb: 2, description: 'parity error' }, { name: 'FE', lsb: 3, description: 'framing error' },
  { name: 'BI', lsb: 4, description: 'break interrupt' }, { name: 'THRE', lsb: 5, description: 'transmit holding register empty' },
  { name: 'TEMT', lsb: 6, description: 'transmitter empty' }, { name: 'FIFO error', lsb: 7 },
];
const IER_FIELDS: readonly BitField[] = [
  { name: 'ERBFI', lsb: 0, description: 'received data available' }, { name: 'ETBEI', lsb: 1, description: 'transmit holding register empty' },
  { name: 'ELSI', lsb: 2, description: 'receiver line status' }, { name: 'EDSSI', lsb: 3, description: 'modem status' },
];
const LCR_FIELDS: readonly BitField[] = [
  { name: 'word length', lsb: 0, width: 2, values: { 0: '5 bits', 1: '6 bits', 2: '7 bits', 3: '8 bits' } },
  { name: 'stop bits', lsb: 2, values: { 0: '1', 1: '1.5/2' } }, { name: 'parity enable', lsb: 3 },
  { name: 'even parity', lsb: 4 }, { name: 'stick parity', lsb: 5 }, { name: 'break', lsb: 6 }, { name: 'DLAB', lsb: 7, description: 'divisor latch access' },
];
const MCR_FIELDS: readonly BitField[] = [
  { name: 'DTR', lsb: 0 }, { name: 'RTS', lsb: 1 }, { name: 'OUT1', lsb: 2 }, { name: 'OUT2', lsb: 3, description: 'interrupt output enable on a PC' }, { name: 'LOOP', lsb: 4 },
];
const PIT_RW = { 0: 'latch', 1: 'LSB only', 2: 'MSB only', 3: 'LSB then MSB' };
const PIT_MODES: Readonly<Record<number, string>> = { 0: 'interrupt on terminal count', 1: 'hardware retriggerable one-shot', 2: 'rate generator', 3: 'square wave', 4: 'software strobe', 5: 'hardware strobe' };
const VIRTIO_STATUS: readonly BitField[] = [
  { name: 'ACKNOWLEDGE', lsb: 0 }, { name: 'DRIVER', lsb: 1 }, { name: 'DRIVER_OK', lsb: 2 }, { name: 'FEATURES_OK', lsb: 3 },
  { name: 'NEEDS_RESET', lsb: 6 }, { name: 'FAILED', lsb: 7 },
];
const DESC_FLAGS: readonly BitField[] = [{ name: 'NEXT', lsb: 0 }, { name: 'WRITE', lsb: 1 }, { name: 'INDIRECT', lsb: 2 }];

function bytesText(bytes: readonly number[]): string {
  if (bytes.length === 0) return 'empty';
  const shown = bytes.slice(0, 32).map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
  return `${bytes.length} bytes "${shown}${bytes.length > 32 ? '…' : ''}"`;
}

function uartNode(vm: HasPlatform, fmt: FormatOptions): VarNode | null {
  const p = vm.platform;
  if (p === null) return null;
  const u = p.uart.snapshot();
  const reg = (name: string, v: number, fields: readonly BitField[] | null, type: string): VarNode => ({
    ...leaf(name, fmtNum(v, 8, fmt), { type }),
    ...(fields === null ? {} : { children: () => fieldNodes(v, fields, fmt) }),
  });
  return group('UART (COM1 0x3F8, IRQ 4)', `${p.uart.baud} baud, RX FIFO ${u.rx.length} bytes, LSR ${fmtNum(u.lsr, 8, fmt)}`, () => [
    reg('IER', u.ier, IER_FIELDS, 'interrupt enable (0x3F9)'),
    reg('LCR', u.lcr, LCR_FIELDS, 'line control (0x3FB)'),
    reg('MCR', u.mcr, MCR_FIELDS, 'modem control (0x3FC)'),
    reg('LSR', u.lsr, LSR_FIELDS, 'line status (0x3FD)'),
    reg('MSR', u.msr, null, 'modem status (0x3FE)'),
    reg('SCR', u.scr, null, 'scratch (0x3FF)'),
    reg('FCR', u.fcr, null, 'FIFO control (0x3FA, write-only)'),
    leaf('divisor latch', `${fmtNum((u.dlm << 8) | u.dll, 16, fmt)} (${p.uart.baud} baud)`),
    leaf('RX FIFO', bytesText(u.rx), { type: 'received bytes the guest has not read' }),
    leaf('host input queue', bytesText(u.hostQueue), { type: 'bytes waiting to enter the FIFO' }),
    leaf('THR-empty interrupt pending', yesNo(u.thrPending)),
    leaf('IRQ line', u.irqHigh ? 'high' : 'low'),
  ]);
}

/** The count the channel shows now, from its load tick (modes 0, 2 and 3; others show the reload value). */
function pitCurrent(c: PitChannelState, now: number): number | null {
  if (c.loadTick < 0) return null;
  const period = c.count === 0 ? 0x10000 : c.count;
  const elapsed = Math.max(0, now - c.loadTick);
  if (c.mode === 0) return (period - elapsed) & 0xffff;
  if (c.mode === 2) return period - (elapsed % period);
  if (c.mode === 3) return period - ((elapsed * 2) % period);
  return null;
}

function pitNode(vm: HasPlatform, fmt: FormatOptions): VarNode | null {
  const p = vm.platform;
  if (p === null) return null;
  const s = p.pit.snapshot();
  return group('PIT (8254, 0x40-0x43)', `tick ${s.now}, ${s.irq0Edges} IRQ 0 edges`, () => [
    ...s.channels.map((c, i) => {
      const cur = pitCurrent(c, s.now);
      return group(`channel ${i}`, `mode ${c.mode} (${PIT_MODES[c.mode] ?? 'reserved'}), count ${fmtNum(c.count, 16, fmt)}${c.loadTick < 0 ? ', not counting' : ''}`, () => [
        leaf('control', fmtNum(c.control, 8, fmt), { type: `access ${PIT_RW[((c.control >> 4) & 3) as 0 | 1 | 2 | 3]}, ${(c.control & 1) ? 'BCD' : 'binary'}` }),
        leaf('mode', `${c.mode} (${PIT_MODES[c.mode] ?? 'reserved'})`),
        leaf('reload count', `${fmtNum(c.count, 16, fmt)}${c.count === 0 ? ' (65536)' : ''}`),
        leaf('current count', cur === null ? '—' : fmtNum(cur, 16, fmt), { type: 'computed from the load tick' }),
        leaf('loaded at tick', c.loadTick < 0 ? 'not counting' : String(c.loadTick)),
        leaf('gate', c.gate ? 'high' : 'low'),
        leaf('null count', yesNo(c.nullCount)),
        ...(c.nextCount >= 0 ? [leaf('next count', `${fmtNum(c.nextCount, 16, fmt)} at tick ${c.nextTick}`)] : []),
        ...(i === 0 ? [leaf('OUT', s.out0 ? 'high' : 'low')] : []),
      ]);
    }),
    leaf('port 0x61', `${fmtNum(p.portB.snapshot().control, 8, fmt)} (channel 2 gate ${(p.portB.snapshot().control & 1) ? 'high' : 'low'}, speaker ${(p.portB.snapshot().control & 2) ? 'on' : 'off'})`),
  ]);
}

function read16(m: GuestMemoryAccess, a: number): number {
  return m.read8(a) | (m.read8(a + 1) << 8);
}
function read32(m: GuestMemoryAccess, a: number): number {
  return (read16(m, a) | (read16(m, a + 2) << 16)) >>> 0;
}

function virtqueueNode(v: VirtioConsole, index: number, fmt: FormatOptions): VarNode | null {
  const q = v.queueInfo(index);
  if (q === null) return null;
  const layout = q.layout;
  const title = `queue ${index} (${q.name})`;
  if (layout === null) return leaf(title, 'not set up (address 0)');
  const m = v.memory;
  const inside = layout.end <= m.size;
  if (!inside) return leaf(title, `rings at GPA ${hex(layout.desc)}-${hex(layout.end)} lie outside guest memory`);
  const size = q.size;
  const availIdx = read16(m, layout.avail + 2);
  const usedIdx = read16(m, layout.used + 2);
  const descriptor = (i: number): VarNode => {
    const a = layout.desc + i * 16;
    const addrLo = read32(m, a);
    const addrHi = read32(m, a + 4);
    const len = read32(m, a + 8);
    const flags = read16(m, a + 12);
    const next = read16(m, a + 14);
    return {
      name: `desc ${i}`,
      value: `addr ${fmtNum((BigInt(addrHi) << 32n) | BigInt(addrLo), 64, fmt)} len ${len}${(flags & 1) ? ` next ${next}` : ''}${(flags & 2) ? ' WRITE' : ''}${(flags & 4) ? ' INDIRECT' : ''}`,
      type: `virtq_desc at GPA ${hex(a)}`,
      memoryReference: memRef('gpa', addrLo),
      hint: { kind: 'property', attributes: ['readOnly'] },
      children: () => [
        leaf('addr', fmtNum((BigInt(addrHi) << 32n) | BigInt(addrLo), 64, fmt), { memoryReference: memRef('gpa', addrLo) }),
        leaf('len', String(len)),
        { ...leaf('flags', fmtNum(flags, 16, fmt)), children: () => fieldNodes(flags, DESC_FLAGS, fmt) },
        leaf('next', String(next)),
      ],
    };
  };
  const paged = (name: string, value: string, count: number, at: (i: number) => VarNode): VarNode => ({
    name, value, indexedCount: count, hint: { kind: 'virtual', attributes: ['readOnly'] },
    childrenRange: (start, n) => {
      const out: VarNode[] = [];
      for (let i = Math.max(0, start); i < Math.min(count, start + n); i++) out.push(at(i));
      return out;
    },
    children: () => Array.from({ length: count }, (_, i) => at(i)),
  });
  return group(title, `size ${size}, avail.idx ${availIdx}, used.idx ${usedIdx}, device next avail ${q.lastAvail}, next used ${q.usedIdx}`, () => [
    leaf('page frame', `${fmtNum(q.pfn, 32, fmt)} (GPA ${fmtAddr(q.pfn * 4096, fmt)})`),
    paged('descriptors', `${size} at GPA ${fmtAddr(layout.desc, fmt)}`, size, descriptor),
    group('available ring', `flags ${fmtNum(read16(m, layout.avail), 16, fmt)}, idx ${availIdx}, ${(availIdx - q.lastAvail) & 0xffff} new`, () => [
      leaf('flags', `${fmtNum(read16(m, layout.avail), 16, fmt)}${(read16(m, layout.avail) & 1) ? ' (NO_INTERRUPT)' : ''}`),
      leaf('idx', String(availIdx)),
      paged('ring', `${size} entries at GPA ${fmtAddr(layout.avail + 4, fmt)}`, size, (i) => leaf(`[${i}]`, `desc ${read16(m, layout.avail + 4 + i * 2)}`, (i === (availIdx - 1) % size) ? { type: 'most recent' } : {})),
      leaf('used_event', String(read16(m, layout.avail + 4 + size * 2))),
    ], { memoryReference: memRef('gpa', layout.avail) }),
    group('used ring', `flags ${fmtNum(read16(m, layout.used), 16, fmt)}, idx ${usedIdx}`, () => [
      leaf('flags', fmtNum(read16(m, layout.used), 16, fmt)),
      leaf('idx', String(usedIdx)),
      paged('ring', `${size} elements at GPA ${fmtAddr(layout.used + 4, fmt)}`, size, (i) => leaf(`[${i}]`, `id ${read32(m, layout.used + 4 + i * 8)} len ${read32(m, layout.used + 8 + i * 8)}`)),
      leaf('avail_event', String(read16(m, layout.used + 4 + size * 8))),
    ], { memoryReference: memRef('gpa', layout.used) }),
  ]);
}

function virtioNode(vm: HasPlatform, fmt: FormatOptions): VarNode | null {
  const v = vm.platform?.virtio ?? null;
  if (v === null) return null;
  const s = v.state;
  return group(`virtio console (port ${hex(v.base)}, IRQ ${v.irq})`, `status ${fmtNum(s.status, 8, fmt)}, ${s.stats.notifications} notifications, ${s.stats.txBytes} bytes sent`, () => [
    { ...leaf('device status', fmtNum(s.status, 8, fmt)), children: () => fieldNodes(s.status, VIRTIO_STATUS, fmt) },
    leaf('device features', fmtNum(v.deviceFeatures, 32, fmt), { type: 'bit 0 SIZE, bit 2 EMERG_WRITE' }),
    leaf('driver features', fmtNum(s.guestFeatures, 32, fmt)),
    leaf('queue select', String(s.queueSelect)),
    leaf('ISR', `${fmtNum(s.isr, 8, fmt)}${(s.isr & 1) ? ' queue' : ''}${(s.isr & 2) ? ' config' : ''}`),
    leaf('IRQ line', s.irqHigh ? 'high' : 'low'),
    ...[0, 1].map((i) => virtqueueNode(v, i, fmt)).filter((n): n is VarNode => n !== null),
    group('counters', `${s.stats.txBuffers} TX buffers, ${s.stats.rxBuffers} RX buffers`, () => Object.entries(s.stats).map(([k, n]) => leaf(k, String(n)))),
    leaf('pending input', bytesText(s.input)),
    group('messages', `${s.messages.length}`, () => s.messages.map((msg, i) => leaf(`[${i}]`, msg))),
  ]);
}

function debugExitNode(vm: HasPlatform, fmt: FormatOptions): VarNode | null {
  const p = vm.platform;
  if (p === null) return null;
  const d = p.debugExit;
  return leaf(`debug exit (port ${hex(d.port)})`, d.value === null ? 'not written' : `wrote ${fmtNum(d.value, 8 * d.size, fmt)}: exit status ${fmtNum(d.exitCode ?? 0, 32, fmt)}`, { type: 'a write stops the VM with (value << 1) | 1' });
}

export function deviceNodes(vm: HasPlatform, fmt: FormatOptions): VarNode[] {
  if (vm.platform === null) return [leaf('platform', 'none (created with platform: false)')];
  return [uartNode(vm, fmt), pitNode(vm, fmt), virtioNode(vm, fmt), debugExitNode(vm, fmt)].filter((n): n is VarNode => n !== null);
}
