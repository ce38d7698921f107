// Named bit fields of a register or VMCS field, shown as children in the
// manner of a peripheral register view: each field with its bit range,
// access, enumerated value names and a "changed since the last stop" mark.
import type { FormatOptions, VarNode } from './node';
import { fmtNum } from './format';

export type Access = 'read-write' | 'read-only' | 'reserved';

export interface BitField {
  name: string;
  lsb: number;
  /** Default 1. */
  width?: number;
  description?: string;
  /** Names of the values (multi-bit fields, e.g. an interruption type). */
  values?: Readonly<Record<number, string>>;
  /** Names that depend on the whole register (e.g. a segment type depends on S). */
  describe?: (field: number, whole: number) => string | undefined;
  /** Default read-write. */
  access?: Access;
  /** A field shown as an address (already in place, e.g. bits 31:12): not shifted down. */
  inPlace?: boolean;
}

export function fieldWidth(f: BitField): number {
  return f.width ?? 1;
}

export function fieldMask(f: BitField): number {
  const w = fieldWidth(f);
  return (w >= 32 ? 0xffffffff : ((2 ** w - 1) * 2 ** f.lsb)) >>> 0;
}

/** The field's value: shifted down, or masked in place for address fields. */
export function fieldValue(value: number, f: BitField): number {
  const masked = (value & fieldMask(f)) >>> 0;
  return f.inPlace ? masked : Math.floor(masked / 2 ** f.lsb);
}

/** Puts a field value back into the register value. */
export function withField(value: number, f: BitField, v: number): number {
  const mask = fieldMask(f);
  const placed = f.inPlace ? v : v * 2 ** f.lsb;
  return ((value & ~mask) | (placed & mask)) >>> 0;
}

export function bitRange(f: BitField): string {
  const w = fieldWidth(f);
  return w === 1 ? `bit ${f.lsb}` : `bits ${f.lsb + w - 1}:${f.lsb}`;
}

/** "1", "0x3 (TSS busy)" — single bits as 0/1, wider fields in the current radix with their name. */
export function fieldText(value: number, f: BitField, fmt: FormatOptions): string {
  const v = fieldValue(value, f);
  const w = fieldWidth(f);
  const name = f.describe?.(v, value) ?? f.values?.[v];
  const shown = w <= 3 && !f.inPlace ? String(v) : f.inPlace ? fmtNum(v, 32, fmt) : fmtNum(v, w, fmt);
  return name === undefined ? shown : `${shown} (${name})`;
}

export interface FieldNodeOptions {
  /** The register value at the previous stop, to mark changed fields. */
  previous?: number;
  /** Writes a new whole-register value; present when the register is editable. Returns nothing; throws to refuse. */
  write?: (whole: number) => void;
  /** Reads the register again after a write (the value shown after an edit). */
  read?: () => number;
  /** Prefix for evaluateName, e.g. "EFLAGS" gives "EFLAGS.CF". */
  path?: string;
  /** Fields a write may not change, with the reason. */
  refuse?: (f: BitField) => string | undefined;
}

/** One child per field, lowest bit first as the table lists them. */
export function fieldNodes(value: number, fields: readonly BitField[], fmt: FormatOptions, o: FieldNodeOptions = {}): VarNode[] {
  return fields.map((f): VarNode => {
    const access = f.access ?? 'read-write';
    const node: VarNode = {
      name: f.name,
      value: fieldText(value, f, fmt),
      type: `${bitRange(f)}, ${access}${f.description ? ` — ${f.description}` : ''}`,
      hint: { kind: 'property', attributes: [] },
    };
    if (o.path !== undefined) node.evaluateName = `${o.path}.${f.name}`;
    if (o.previous !== undefined && fieldValue(o.previous, f) !== fieldValue(value, f)) node.changed = true;
    const refused = o.refuse?.(f);
    const write = o.write;
    if (write !== undefined && access === 'read-write' && refused === undefined) {
      node.set = (text: string): string => {
        const n = parseFieldValue(text, f);
        const now = o.read ? o.read() : value;
        write(withField(now, f, n));
        return fieldText(o.read ? o.read() : withField(now, f, n), f, fmt);
      };
    } else {
      node.hint = { kind: 'property', attributes: ['readOnly'] };
      if (refused !== undefined) node.readOnlyReason = refused;
      else if (access !== 'read-write') node.readOnlyReason = `${f.name} is ${access}`;
    }
    return node;
  });
}

function parseFieldValue(text: string, f: BitField): number {
  const t = text.trim();
  const w = fieldWidth(f);
  if (f.values !== undefined) {
    for (const [k, name] of Object.entries(f.values)) if (name.toLowerCase() === t.toLowerCase()) return Number(k);
  }
  const m = /^(?:0x([0-9a-f]+)|([0-9]+))$/i.exec(t);
  if (m === null) throw new Error(`'${t}' is not a value for ${f.name}${f.values ? ` (names: ${Object.values(f.values).join(', ')})` : ''}`);
  const v = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2], 10);
  const max = f.inPlace ? fieldMask(f) : 2 ** w - 1;
  if (v > max || (f.inPlace && (v & ~fieldMask(f)) !== 0)) throw new Error(`${t} does not fit ${f.name} (${bitRange(f)})`);
  return v;
}
