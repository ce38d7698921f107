// Memory references ("gva:0x1000", "gpa:0x2000", "hpa:0x1F400000", or a bare
// address meaning guest-virtual), readMemory/writeMemory over them, and the
// disassemble request with labels and source locations.

import { fromBase64, toBase64 } from '../x86/base64';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { disassemble } from '../x86/disasm/index';
import type { Runtime } from './runtime';
import { parseAddress } from './launchConfig';
import { readBytes, writeBytes, type AddressSpace } from './runtimeState';
import { sourceOf, symbolFor } from './runtimeFrames';

/** The most one readMemory returns. */
const MAX_READ = 1 << 20;

export function parseMemoryReference(ref: unknown): { space: AddressSpace; address: number } {
  if (typeof ref !== 'string') throw new Error(`'memoryReference' must be a string such as "gva:0x1000" (got ${JSON.stringify(ref)}).`);
  const m = /^\s*(?:(gva|gpa|hpa):)?\s*(.+?)\s*$/i.exec(ref);
  const address = m === null ? undefined : parseAddress(m[2]);
  if (m === null || address === undefined) throw new Error(`'${ref}' is not a memory reference: use gva:ADDRESS, gpa:ADDRESS, hpa:ADDRESS or an address.`);
  return { space: (m[1]?.toLowerCase() ?? 'gva') as AddressSpace, address };
}

/** DAP's base64, with the message the writeMemory request reports. */
function decodeData(text: string): Uint8Array {
  try {
    return fromBase64(text);
  } catch {
    throw new Error("'data' is not base64.");
  }
}

export function readMemoryResponse(rt: Runtime, args: Record<string, unknown>): DebugProtocol.ReadMemoryResponse['body'] {
  const ref = parseMemoryReference(args['memoryReference']);
  const offset = typeof args['offset'] === 'number' && Number.isInteger(args['offset']) ? args['offset'] : 0;
  const count = args['count'];
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) throw new Error("'count' must be a non-negative integer.");
  const n = Math.min(count, MAX_READ);
  const start = (ref.address + offset) >>> 0;
  const vcpu = rt.lastStop?.vcpu ?? 0;
  const bytes = readBytes(rt.target, vcpu, ref.space, start, n);
  // DAP returns one readable run: up to the first unreadable byte, and counts the rest.
  let readable = bytes.findIndex((b) => b === null);
  if (readable < 0) readable = bytes.length;
  const address = `${ref.space}:0x${start.toString(16).toUpperCase()}`;
  if (readable === 0) {
    let skip = bytes.findIndex((b) => b !== null);
    if (skip < 0) skip = bytes.length;
    return { address, unreadableBytes: skip };
  }
  return { address, data: toBase64(bytes.slice(0, readable) as number[]), unreadableBytes: n - readable };
}

export function writeMemoryBytes(rt: Runtime, args: Record<string, unknown>): number {
  const ref = parseMemoryReference(args['memoryReference']);
  const offset = typeof args['offset'] === 'number' && Number.isInteger(args['offset']) ? args['offset'] : 0;
  const data = args['data'];
  if (typeof data !== 'string') throw new Error("writeMemory needs 'data' (base64).");
  const bytes = decodeData(data);
  const vcpu = rt.lastStop?.vcpu ?? 0;
  const written = writeBytes(rt.target, vcpu, ref.space, (ref.address + offset) >>> 0, bytes);
  if (written < bytes.length && args['allowPartial'] !== true) throw new Error(`Only ${written} of ${bytes.length} bytes could be written: the memory after them is not mapped.`);
  return written;
}

/** Instruction starts we trust: the source map's, else a linear sweep from the image start or from the address. */
export function disassembleAround(rt: Runtime, vcpu: number, space: AddressSpace, address: number, instructionOffset: number, count: number, resolveSymbols: boolean): DebugProtocol.DisassembledInstruction[] {
  const c = rt.target.cpu(vcpu);
  const bits: 16 | 32 = (c.cr0 & 1) !== 0 && (c.seg[1].attr & 0x4000) !== 0 ? 32 : 16;
  const img = rt.image;
  const inImage = address >= img.loadAddress && address < img.loadAddress + img.bytes.length;
  const back = Math.max(0, -instructionOffset);
  // Sweep from a point before the address that lines up with real instruction starts when possible.
  const from = inImage ? Math.max(img.loadAddress, address - Math.max(64, back * 16)) : Math.max(0, address - back * 15);
  const alignedFrom = inImage ? alignToImage(rt, from) : from;
  const span = address - alignedFrom + Math.max(0, instructionOffset + count) * 15 + 16;
  const raw = readBytes(rt.target, vcpu, space, alignedFrom, Math.min(span, 1 << 16));
  const bytes = Uint8Array.from(raw.map((b) => b ?? 0));
  const lines = disassemble(bytes, bits, alignedFrom).map((l) => ({ ...l, unreadable: raw[l.address - alignedFrom] === null }));
  let at = lines.findIndex((l) => l.address >= address);
  if (at < 0) at = lines.length;
  const out: DebugProtocol.DisassembledInstruction[] = [];
  for (let i = at + instructionOffset; out.length < count; i++) {
    const l = i >= 0 ? lines[i] : undefined;
    if (l === undefined) {
      const guess = i < 0 ? alignedFrom + i : address + (i - at);
      out.push({ address: `0x${(guess >>> 0).toString(16).toUpperCase()}`, instruction: '??', presentationHint: 'invalid' });
      continue;
    }
    const d: DebugProtocol.DisassembledInstruction = {
      address: `0x${l.address.toString(16).toUpperCase()}`,
      instructionBytes: [...l.bytes].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(' '),
      instruction: l.unreadable ? '??' : l.text,
    };
    if (l.unreadable) d.presentationHint = 'invalid';
    if (resolveSymbols) {
      const s = symbolFor(rt, l.address);
      if (s !== undefined && !s.includes('+')) d.symbol = s;
    }
    if (space === 'gva') {
      const e = img.sourceMap?.lookup(l.address);
      if (e !== undefined && l.address < e.address + Math.max(1, e.length)) {
        d.location = sourceOf(e.file);
        d.line = e.line;
      }
    }
    out.push(d);
  }
  return out;
}

/** The first source-map entry at or after `from`, so the sweep starts on an instruction. */
function alignToImage(rt: Runtime, from: number): number {
  const entries = rt.image.sourceMap?.entries;
  if (entries === undefined) return from;
  const e = entries.find((x) => x.address >= from);
  return e === undefined ? from : e.address;
}
