// One VMCS: every supported field's value, and VMREAD/VMWRITE as the SDM
// defines them for a processor outside 64-bit mode (this machine is IA-32, so
// the operand size is always 32 bits):
//  - an encoding the processor does not support (unknown, reserved bits set,
//    or the high access to a field that is not 64 bits wide) fails with
//    VMfailValid, VM-instruction error 12;
//  - VMWRITE to a VM-exit information field fails with error 13, because the
//    modelled IA32_VMX_MISC has bit 29 clear (option `vmwriteExitInformation`);
//  - a 64-bit field is reached as "full" (its encoding: bits 31:0, and a write
//    clears bits 63:32 since the operand is shorter than the field) or "high"
//    (encoding | 1: bits 63:32 alone);
//  - values are truncated to the field width; natural width is 32 bits.
// On failure the error number is stored in VM_INSTRUCTION_ERROR, as VMfailValid
// does for the current VMCS; setting RFLAGS (ZF) is the caller's part.
import { resolveAccess, fieldByName, VMCS_FIELDS, VMCS, type VmcsField, type VmcsFieldName } from './fields';
import { widthBits } from './encoding';
import { VMXERR_UNSUPPORTED_VMCS_COMPONENT, VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT } from './instruction-errors';

/** IA32_VMX_MISC bit 29: software may VMWRITE to VM-exit information fields. */
export const IA32_VMX_MISC_VMWRITE_EXIT_INFORMATION = 1 << 29;

export type VmxResult = { ok: true; value: number } | { ok: false; error: number };

export interface VmcsOptions {
  /** Models IA32_VMX_MISC bit 29; off (false) by default. */
  vmwriteExitInformation?: boolean;
}

/** Plain, JSON-serializable contents: low 32 bits by field name, bits 63:32 of 64-bit fields in `high`. */
export interface VmcsSnapshot {
  fields: Record<string, number>;
  high: Record<string, number>;
}

const TWO32 = 2 ** 32;

export class Vmcs {
  readonly vmwriteExitInformation: boolean;
  // Keyed by full encoding. `lo` holds the whole value of fields up to 32 bits.
  private readonly lo = new Map<number, number>();
  private readonly hi = new Map<number, number>();

  constructor(options: VmcsOptions = {}) {
    this.vmwriteExitInformation = options.vmwriteExitInformation ?? false;
    this.reset();
  }

  /** All fields zero. */
  reset(): void {
    for (const f of VMCS_FIELDS) {
      this.lo.set(f.encoding, 0);
      if (f.width === 64) this.hi.set(f.encoding, 0);
    }
  }

  /** VMREAD with a 32-bit operand. */
  vmread(encoding: number): VmxResult {
    const access = resolveAccess(encoding);
    if (!access) return this.fail(VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    const map = access.high ? this.hi : this.lo;
    return { ok: true, value: map.get(access.field.encoding) ?? 0 };
  }

  /** VMWRITE with a 32-bit operand. */
  vmwrite(encoding: number, value: number): VmxResult {
    const access = resolveAccess(encoding);
    if (!access) return this.fail(VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    if (access.field.readOnly && !this.vmwriteExitInformation) return this.fail(VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT);
    const v = value >>> 0;
    const f = access.field;
    if (access.high) {
      this.hi.set(f.encoding, v);
    } else if (f.width === 64) {
      this.lo.set(f.encoding, v);
      this.hi.set(f.encoding, 0);
    } else {
      this.lo.set(f.encoding, truncate(v, widthBits(f.width)));
    }
    return { ok: true, value: v };
  }

  /** Engine access, no VMX checks (read-only fields included). 64-bit values above 2^53 lose precision: use getBig. */
  get(name: VmcsFieldName): number {
    const f = must(name);
    const lo = this.lo.get(f.encoding) ?? 0;
    return f.width === 64 ? (this.hi.get(f.encoding) ?? 0) * TWO32 + lo : lo;
  }

  getBig(name: VmcsFieldName): bigint {
    const f = must(name);
    return (BigInt(this.hi.get(f.encoding) ?? 0) << 32n) | BigInt(this.lo.get(f.encoding) ?? 0);
  }

  /** Engine access: sets any field (exit information included), truncated to the field width. */
  set(name: VmcsFieldName, value: number | bigint): void {
    const f = must(name);
    const bitsWide = widthBits(f.width);
    const big = BigInt.asUintN(bitsWide, typeof value === 'bigint' ? value : BigInt(Math.trunc(value)));
    this.lo.set(f.encoding, Number(big & 0xffffffffn));
    if (f.width === 64) this.hi.set(f.encoding, Number(big >> 32n));
  }

  /** Records a VMfailValid error number (the engine uses this for VMLAUNCH/VMRESUME failures too). */
  setInstructionError(error: number): void {
    this.lo.set(VMCS.VM_INSTRUCTION_ERROR, error >>> 0);
  }

  /** Every field with its value, in table order. */
  entries(): { field: VmcsField; value: number; high?: number }[] {
    return VMCS_FIELDS.map((field) => {
      const value = this.lo.get(field.encoding) ?? 0;
      return field.width === 64 ? { field, value, high: this.hi.get(field.encoding) ?? 0 } : { field, value };
    });
  }

  snapshot(): VmcsSnapshot {
    const fields: Record<string, number> = {};
    const high: Record<string, number> = {};
    for (const f of VMCS_FIELDS) {
      fields[f.name] = this.lo.get(f.encoding) ?? 0;
      if (f.width === 64) high[f.name] = this.hi.get(f.encoding) ?? 0;
    }
    return { fields, high };
  }

  /** Replaces every field's value; fields missing from the snapshot become 0. Unknown names are an error. */
  restore(s: VmcsSnapshot): void {
    for (const name of [...Object.keys(s.fields), ...Object.keys(s.high)]) {
      if (!fieldByName(name)) throw new Error(`VMCS snapshot names unknown field '${name}'`);
    }
    this.reset();
    for (const f of VMCS_FIELDS) {
      const lo = s.fields[f.name] ?? 0;
      this.lo.set(f.encoding, truncate(lo >>> 0, Math.min(32, widthBits(f.width))));
      if (f.width === 64) this.hi.set(f.encoding, (s.high[f.name] ?? 0) >>> 0);
    }
  }

  private fail(error: number): VmxResult {
    this.setInstructionError(error);
    return { ok: false, error };
  }
}

function truncate(v: number, bitsWide: number): number {
  return bitsWide >= 32 ? v >>> 0 : v & ((1 << bitsWide) - 1);
}

function must(name: VmcsFieldName): VmcsField {
  const f = fieldByName(name);
  if (!f) throw new Error(`no VMCS field '${name}'`);
  return f;
}
