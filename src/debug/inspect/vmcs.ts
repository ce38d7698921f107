// The VMCS scope: every field grouped as the SDM groups them, named with its
// encoding, control words and other packed fields split into named bits,
// the exit qualification decoded for the current exit reason, and VMWRITE
// semantics for edits.
import type { Vm, Vcpu } from '../../vmm/vtx/index';
import { entryCheckFailures } from '../../vmm/vtx/entry-checks';
import { VMCS_FIELDS, GROUP_TITLES, fieldByEncoding, fieldByName, type FieldGroup, type VmcsField } from '../../vmm/vmx/fields';
import { CONTROL_SETS, type ControlSet } from '../../vmm/vmx/controls';
import { widthBits, widthText } from '../../vmm/vmx/encoding';
import { EXIT_REASON_FLAGS, exitReason } from '../../vmm/vmx/exit-reasons';
import { VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT, vmInstructionErrorText } from '../../vmm/vmx/instruction-errors';
import {
  EXCEPTION_MNEMONICS, INTERRUPTION_TYPES, decodeApicAccess, decodeCrAccess, decodeDrAccess, decodeEptViolation,
  decodeIoQualification, summarizeExitQualification, decodeInterruptionInfo,
} from '../../vmm/vmx/qualifications';
import { INTERRUPTIBILITY_BITS, activityStateName } from '../../vmm/vmx/guest-state';
import { MEMTYPE_NAMES } from '../../vmm/memory/eptFormat';
import type { FormatOptions, VarNode } from './node';
import { fieldNodes, type BitField } from './bits';
import { fmtNum, group, hex, leaf, parse64 } from './format';
import { ACCESS_RIGHTS_FIELDS, CR0_FIELDS, CR3_FIELDS, CR4_FIELDS, DR7_FIELDS, EFLAGS_FIELDS } from './x86bits';
import { previousFor } from './snapshot';

export const GROUP_ORDER: readonly FieldGroup[] = ['guest-state', 'host-state', 'execution-control', 'exit-control', 'entry-control', 'exit-information'];

/** "GUEST_RIP (0x681E)". */
export function fieldLabel(f: VmcsField): string {
  return `${f.name} (${hex(f.encoding, 4)})`;
}

export function fieldBits(f: VmcsField): number {
  return widthBits(f.width) === 64 ? 64 : widthBits(f.width);
}

export function readField(vcpu: Vcpu, f: VmcsField): bigint {
  return vcpu.vmcs.getBig(f.name);
}

export function formatField(vcpu: Vcpu, f: VmcsField, fmt: FormatOptions): string {
  const v = readField(vcpu, f);
  return fmtNum(f.width === 64 ? v : Number(v), fieldBits(f), fmt);
}

/** Looks a field up by name (any case) or encoding ("0x681E", "681Eh", decimal). */
export function findField(text: string): VmcsField | undefined {
  const t = text.trim();
  const byName = fieldByName(t);
  if (byName !== undefined) return byName;
  if (/^(0x[0-9a-f]+|[0-9a-f]+h|[0-9]+)$/i.test(t)) {
    const n = /h$/i.test(t) ? parseInt(t.slice(0, -1), 16) : Number(t);
    return fieldByEncoding(n);
  }
  return undefined;
}

/**
 * A debugger VMWRITE of a whole value (64-bit fields take both halves, as a
 * full and a high VMWRITE would). Read-only exit-information fields are
 * refused with VM-instruction error 13, as the processor refuses them (the
 * modelled IA32_VMX_MISC bit 29 is clear); VM_INSTRUCTION_ERROR is not
 * touched, since the guest did not execute the instruction. Returns a note:
 * when the value takes effect and what the VM-entry checks say now.
 */
export function vmcsWrite(vcpu: Vcpu, f: VmcsField, value: bigint): string {
  if (f.readOnly && !vcpu.vmcs.vmwriteExitInformation) {
    throw new Error(`VMWRITE to ${fieldLabel(f)} fails: VM-instruction error ${vmInstructionErrorText(VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT)} (VM-exit information fields are read-only: IA32_VMX_MISC bit 29 is clear)`);
  }
  const bits = fieldBits(f);
  if (value >= 1n << BigInt(bits)) throw new Error(`${hex(Number(value & 0xffffffffn))}… does not fit ${fieldLabel(f)}, a ${widthText(f.width)} field`);
  const lo = Number(value & 0xffffffffn);
  let r = vcpu.vmcs.vmwrite(f.encoding, lo);
  if (r.ok && f.width === 64) r = vcpu.vmcs.vmwrite(f.encoding | 1, Number(value >> 32n));
  if (!r.ok) throw new Error(`VMWRITE to ${fieldLabel(f)} fails: VM-instruction error ${vmInstructionErrorText(r.error)}`);
  return writeNote(vcpu, f);
}

/** What the console says after a write of `f`: its value, when it takes effect, the entry checks now. */
export function writeNote(vcpu: Vcpu, f: VmcsField): string {
  const value = vcpu.vmcs.getBig(f.name);
  const notes = [`VMWRITE ${fieldLabel(f)} = ${fmtNum(f.width === 64 ? value : Number(value), fieldBits(f), { hex: true })}.`];
  if (f.group === 'guest-state' && vcpu.blocked) {
    notes.push('The vCPU is halted in root mode after a HLT exit: the VM entry that wakes it loads this field into the CPU.');
  } else if (f.group === 'guest-state') {
    notes.push('Guest-state fields are loaded into the CPU at the next VM entry; until then the guest runs with the live registers, and a VM exit before that entry saves them over this field.');
  } else {
    notes.push('It takes effect at the next VM entry.');
  }
  const failures = entryCheckFailures(vcpu.vmcs);
  notes.push(failures.length === 0
    ? 'The VM-entry checks run at that entry; with the VMCS as it is now they pass.'
    : `The VM-entry checks run at that entry; with the VMCS as it is now it would fail: ${failures[0].message}${failures.length > 1 ? ` (and ${failures.length - 1} more)` : ''}.`);
  return notes.join(' ');
}

// ---------------------------------------------------------------- packed fields

const INTERRUPTION_INFO_FIELDS: readonly BitField[] = [
  { name: 'vector', lsb: 0, width: 8, describe: (v, whole) => ([3, 5, 6].includes((whole >>> 8) & 7) ? EXCEPTION_MNEMONICS[v] : undefined) },
  { name: 'type', lsb: 8, width: 3, values: Object.fromEntries(INTERRUPTION_TYPES.map((t, i) => [i, t])) },
  { name: 'deliver error code', lsb: 11 },
  { name: 'NMI unblocking due to IRET', lsb: 12 },
  { name: 'valid', lsb: 31 },
];

const EXIT_REASON_FIELDS: readonly BitField[] = [
  { name: 'basic exit reason', lsb: 0, width: 16, describe: (v) => exitReason(v)?.name ?? 'reserved', access: 'read-only' },
  ...EXIT_REASON_FLAGS.map((f): BitField => ({ name: f.name, lsb: f.bit, description: f.description, access: 'read-only' })),
];

const EPTP_FIELDS: readonly BitField[] = [
  { name: 'memory type', lsb: 0, width: 3, values: MEMTYPE_NAMES, description: 'of the paging-structure accesses' },
  { name: 'walk length - 1', lsb: 3, width: 3, description: '3 for a four-level walk' },
  { name: 'A/D enable', lsb: 6, description: 'accessed and dirty flags' },
  { name: 'PML4 address', lsb: 12, width: 20, inPlace: true },
];

const EXCEPTION_BITMAP_FIELDS: readonly BitField[] = Array.from({ length: 32 }, (_, v): BitField => ({
  name: `${v} ${EXCEPTION_MNEMONICS[v] ?? ''}`.trim(), lsb: v, description: `exit on exception vector ${v}`,
}));

function controlFields(s: ControlSet): BitField[] {
  const out: BitField[] = s.controls.filter((c) => c.bit < 32).map((c): BitField => ({ name: c.name, lsb: c.bit, description: c.description }));
  for (let bit = 0; bit < 32; bit++) {
    if (((s.default1 >>> bit) & 1) === 1 && !s.controls.some((c) => c.bit === bit)) out.push({ name: `bit ${bit} (default1)`, lsb: bit, access: 'reserved', description: 'reserved, must be 1 (default1 class)' });
  }
  return out.sort((a, b) => a.lsb - b.lsb);
}

const CONTROL_FIELDS = new Map<string, BitField[]>(CONTROL_SETS.map((s) => [s.field, controlFields(s)]));

/** Packed layouts by field name. */
export function layoutOf(f: VmcsField): readonly BitField[] | undefined {
  const c = CONTROL_FIELDS.get(f.name);
  if (c !== undefined) return c;
  if (/_AR_BYTES$/.test(f.name)) return ACCESS_RIGHTS_FIELDS;
  switch (f.name) {
    case 'VM_ENTRY_INTR_INFO_FIELD': case 'VM_EXIT_INTR_INFO': case 'IDT_VECTORING_INFO_FIELD': return INTERRUPTION_INFO_FIELDS;
    case 'VM_EXIT_REASON': return EXIT_REASON_FIELDS;
    case 'GUEST_CR0': case 'HOST_CR0': case 'CR0_GUEST_HOST_MASK': case 'CR0_READ_SHADOW': return CR0_FIELDS;
    case 'GUEST_CR4': case 'HOST_CR4': case 'CR4_GUEST_HOST_MASK': case 'CR4_READ_SHADOW': return CR4_FIELDS;
    case 'GUEST_CR3': case 'HOST_CR3': return CR3_FIELDS;
    case 'GUEST_RFLAGS': return EFLAGS_FIELDS;
    case 'GUEST_DR7': return DR7_FIELDS;
    case 'EPT_POINTER': return EPTP_FIELDS;
    case 'EXCEPTION_BITMAP': return EXCEPTION_BITMAP_FIELDS;
    case 'GUEST_INTERRUPTIBILITY_INFO': return INTERRUPTIBILITY_BITS.map((b): BitField => ({ name: b.name, lsb: b.bit, description: b.description }));
    default: return undefined;
  }
}

/** Children that are not bit fields: decodings in words. */
function decodedChildren(vcpu: Vcpu, f: VmcsField, fmt: FormatOptions): VarNode[] {
  const v = Number(vcpu.vmcs.getBig(f.name) & 0xffffffffn) >>> 0;
  switch (f.name) {
    case 'EXIT_QUALIFICATION': return qualificationNodes(vcpu, v, fmt);
    case 'GUEST_ACTIVITY_STATE': return [leaf('state', activityStateName(v))];
    case 'VM_INSTRUCTION_ERROR': return [leaf('error', vmInstructionErrorText(v))];
    case 'VM_ENTRY_INTR_INFO_FIELD': case 'VM_EXIT_INTR_INFO': case 'IDT_VECTORING_INFO_FIELD': return [leaf('summary', decodeInterruptionInfo(v).summary)];
    default: return [];
  }
}

function valueText(v: unknown, fmt: FormatOptions): string {
  if (typeof v === 'number') return v > 9 ? fmtNum(v, 32, fmt) : String(v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (v === undefined || v === null) return '—';
  return String(v);
}

/** An object's own properties as leaves (the decoders' named fields). */
export function objectNodes(o: object, fmt: FormatOptions, skip: readonly string[] = []): VarNode[] {
  return Object.entries(o).filter(([k]) => !skip.includes(k)).map(([k, v]) => leaf(k, valueText(v, fmt)));
}

/** EXIT_QUALIFICATION decoded for the basic reason in VM_EXIT_REASON. */
export function qualificationNodes(vcpu: Vcpu, q: number, fmt: FormatOptions): VarNode[] {
  const reason = vcpu.vmcs.get('VM_EXIT_REASON') & 0xffff;
  const name = exitReason(reason)?.name ?? `reason ${reason}`;
  const gpa = vcpu.vmcs.get('GUEST_PHYSICAL_ADDRESS');
  const gla = vcpu.vmcs.get('GUEST_LINEAR_ADDRESS');
  const summary = summarizeExitQualification(reason, q, { gpa, gla });
  const head = leaf('for exit reason', `${name} (${reason})`);
  const decoded = ((): object | null => {
    switch (reason) {
      case 28: return decodeCrAccess(q);
      case 29: return decodeDrAccess(q);
      case 30: return decodeIoQualification(q);
      case 44: return decodeApicAccess(q);
      case 48: return decodeEptViolation(q, gpa, gla);
      default: return null;
    }
  })();
  if (decoded !== null) return [head, ...objectNodes(decoded, fmt)];
  if (reason === 0 && (vcpu.vmcs.get('VM_EXIT_INTR_INFO') & 0xff) === 14) return [head, leaf('page-fault linear address', fmtNum(q, 32, fmt))];
  return [head, leaf('summary', summary ?? 'no qualification layout for this exit reason (0 or undefined)')];
}

// ---------------------------------------------------------------- nodes

export function fieldNode(vm: Vm, vcpuIndex: number, f: VmcsField, fmt: FormatOptions, prev?: ReadonlyMap<string, bigint>): VarNode {
  const vcpu = vm.vcpus[vcpuIndex];
  const bits = fieldBits(f);
  const now = readField(vcpu, f);
  const low = (): number => Number(readField(vcpu, f) & 0xffffffffn) >>> 0;
  const node: VarNode = {
    name: fieldLabel(f),
    value: formatField(vcpu, f, fmt),
    type: `${widthText(f.width)} ${f.group} field${f.readOnly ? ', read-only' : ''} — ${f.description}`,
    evaluateName: `vmcs ${f.name}`,
    hint: { kind: 'property', attributes: f.readOnly ? ['readOnly'] : [] },
  };
  if (f.name === 'EXIT_QUALIFICATION') {
    const s = summarizeExitQualification(vcpu.vmcs.get('VM_EXIT_REASON') & 0xffff, low(), { gpa: vcpu.vmcs.get('GUEST_PHYSICAL_ADDRESS'), gla: vcpu.vmcs.get('GUEST_LINEAR_ADDRESS') });
    if (s !== undefined) node.value += ` (${s})`;
  }
  if (f.readOnly) {
    node.readOnlyReason = `VMWRITE to a VM-exit information field fails with VM-instruction error ${vmInstructionErrorText(VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT)}`;
  }
  // Refused writes still go through `set`, so the user sees the error 13 text.
  node.set = (text: string): string => {
    vmcsWrite(vcpu, f, parse64(text));
    return formatField(vcpu, f, fmt);
  };
  const before = prev?.get(f.name);
  if (before !== undefined && before !== now) node.changed = true;
  const layout = layoutOf(f);
  const decoded = decodedChildren(vcpu, f, fmt);
  if (layout !== undefined || decoded.length > 0) {
    node.children = () => [
      ...(layout === undefined ? [] : fieldNodes(low(), layout, fmt, {
        previous: before === undefined ? undefined : Number(before & 0xffffffffn) >>> 0,
        path: `vmcs ${f.name}`,
        read: low,
        write: f.readOnly ? undefined : (whole) => { vmcsWrite(vcpu, f, (readField(vcpu, f) & ~0xffffffffn) | BigInt(whole >>> 0)); },
      })),
      ...decodedChildren(vcpu, f, fmt),
    ];
  }
  if (bits === 64 && f.width === 64) node.type += ' (64-bit: the high half is encoding + 1)';
  return node;
}

export function vmcsNodes(vm: Vm, vcpuIndex: number, fmt: FormatOptions, previous?: unknown): VarNode[] {
  const vcpu = vm.vcpus[vcpuIndex];
  if (vcpu === undefined) throw new RangeError(`no vCPU ${vcpuIndex}`);
  const prev = previousFor(previous, vcpuIndex)?.vmcs;
  const out: VarNode[] = GROUP_ORDER.map((g) => {
    const fields = VMCS_FIELDS.filter((f) => f.group === g);
    const node = group(GROUP_TITLES[g], `${fields.length} fields`, () => fields.map((f) => fieldNode(vm, vcpuIndex, f, fmt, prev)));
    if (prev !== undefined && fields.some((f) => prev.get(f.name) !== undefined && prev.get(f.name) !== readField(vcpu, f))) node.changed = true;
    return node;
  });
  out.push(group('VM-entry checks', entryCheckSummary(vcpu), () => entryCheckFailures(vcpu.vmcs).map((e) => leaf(e.check, e.message, { type: e.list }))));
  return out;
}

export function entryCheckSummary(vcpu: Vcpu): string {
  const n = entryCheckFailures(vcpu.vmcs).length;
  return n === 0 ? 'the next VM entry passes the checks' : `${n} failing check${n === 1 ? '' : 's'}: the next VM entry fails`;
}
