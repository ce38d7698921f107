// `hyperstep reference exits|vmcs|controls|errors [--json]`: the VT-x tables the
// product uses, printed from the same data the engine runs on.
import { EXIT_REASONS, EXIT_REASON_FLAGS } from '../vmm/vmx/exit-reasons';
import { VMCS_FIELDS, GROUP_TITLES } from '../vmm/vmx/fields';
import { CONTROL_SETS } from '../vmm/vmx/controls';
import { VM_INSTRUCTION_ERRORS } from '../vmm/vmx/instruction-errors';
import { hexEncoding, widthText } from '../vmm/vmx/encoding';
import { parseArgs, UsageError } from './args';

export const REFERENCE_TABLES = ['exits', 'vmcs', 'controls', 'errors'] as const;
export type ReferenceTable = (typeof REFERENCE_TABLES)[number];

export function isReferenceTable(s: string): s is ReferenceTable {
  return (REFERENCE_TABLES as readonly string[]).includes(s);
}

function hex32(n: number): string {
  return '0x' + (n >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

/** Columns padded to their widest cell; the last column is left ragged. */
export function alignColumns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
}

function exitsText(): string {
  const rows = [['#', 'HEX', 'NAME', 'SDM NAME', 'DESCRIPTION']];
  for (const r of EXIT_REASONS) rows.push([String(r.number), '0x' + r.number.toString(16).toUpperCase().padStart(2, '0'), r.name, r.sdmName, r.description]);
  const flags = [['BIT', 'MASK', 'FLAG', 'DESCRIPTION']];
  for (const f of EXIT_REASON_FLAGS) flags.push([String(f.bit), hex32(2 ** f.bit), f.name, f.description]);
  return [
    'Basic VM-exit reasons (exit-reason bits 15:0)',
    ...alignColumns(rows),
    '',
    'Exit-reason flag bits',
    ...alignColumns(flags),
  ].join('\n');
}

function vmcsText(): string {
  const rows = [['ENCODING', 'NAME', 'WIDTH', 'GROUP', 'DESCRIPTION']];
  for (const f of VMCS_FIELDS) rows.push([hexEncoding(f.encoding), f.name, widthText(f.width), f.group, f.description]);
  const groups = Object.entries(GROUP_TITLES).map(([g, t]) => `${g} = ${t}`).join('; ');
  return [
    `VMCS fields (${VMCS_FIELDS.length}; the high half of a 64-bit field is its encoding + 1; natural width is 32 bits here)`,
    ...alignColumns(rows),
    '',
    `groups: ${groups}`,
  ].join('\n');
}

function controlsText(): string {
  const out: string[] = [];
  for (const s of CONTROL_SETS) {
    const field = VMCS_FIELDS.find((f) => f.name === s.field);
    out.push(`${s.title} — ${s.field} (${field ? hexEncoding(field.encoding) : '?'})${s.default1 ? `, default1 bits ${hex32(s.default1)}` : ''}`);
    const rows = [['BIT', 'MASK', 'NAME', 'DESCRIPTION']];
    for (const c of s.controls) rows.push([String(c.bit), hex32(2 ** c.bit), c.name, c.description + (c.source === 'bochs' ? ' [Bochs name]' : '')]);
    out.push(...alignColumns(rows), '');
  }
  return out.join('\n').trimEnd();
}

function errorsText(): string {
  const rows = [['#', 'NAME', 'MESSAGE']];
  for (const e of VM_INSTRUCTION_ERRORS) rows.push([String(e.number), e.name, e.message]);
  return ['VM-instruction error numbers (VM_INSTRUCTION_ERROR, 0x4400)', ...alignColumns(rows)].join('\n');
}

export function referenceJson(table: ReferenceTable): unknown {
  switch (table) {
    case 'exits':
      return { exitReasons: EXIT_REASONS, flags: EXIT_REASON_FLAGS };
    case 'vmcs':
      return { fields: VMCS_FIELDS.map((f) => ({ ...f, encodingHex: hexEncoding(f.encoding) })) };
    case 'controls':
      return {
        controlSets: CONTROL_SETS.map((s) => ({ ...s, controls: s.controls.map((c) => ({ ...c, mask: c.bit < 32 ? (2 ** c.bit) >>> 0 : undefined })) })),
      };
    case 'errors':
      return { vmInstructionErrors: VM_INSTRUCTION_ERRORS };
  }
}

export function referenceText(table: ReferenceTable): string {
  switch (table) {
    case 'exits':
      return exitsText();
    case 'vmcs':
      return vmcsText();
    case 'controls':
      return controlsText();
    case 'errors':
      return errorsText();
  }
}

/** The `reference` command: one table name, optional --json. */
export function runReference(argv: string[], out: (s: string) => void): number {
  const p = parseArgs(argv, { json: {} });
  const [table, ...extra] = p.positional;
  if (table === undefined || extra.length > 0) throw new UsageError(`reference needs one table: ${REFERENCE_TABLES.join(', ')}`);
  if (!isReferenceTable(table)) throw new UsageError(`reference: unknown table '${table}' (tables: ${REFERENCE_TABLES.join(', ')})`);
  out(p.flags.has('json') ? JSON.stringify(referenceJson(table), null, 2) : referenceText(table));
  return 0;
}
