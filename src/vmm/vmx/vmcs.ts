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

/**
 * Per-field slot numbers and widths, looked up by exact name or encoding.
 * VM exits and entries touch dozens of fields each, so the engine-side
 * accessors avoid string case folding, Map lookups and BigInt arithmetic.
 */
const SLOT_BY_NAME = new Map<string, number>(VMCS_FIELDS.map((f, i) => [f.name, i]));
const SLOT_BY_ENCODING = new Map<number, number>(VMCS_FIELDS.map((f, i) => [f.encoding, i]));
const BITS = VMCS_FIELDS.map((f) => widthBits(f.width));
const IS64 = VMCS_FIELDS.map((f) => f.width === 64);
/** The bits of `lo` a field keeps: fields narrower than 32 bits are truncated on every write. */
const LOW_MASK = Uint32Array.from(BITS, (b) => (b >= 32 ? 0xffffffff : (1 << b) - 1));
const ERROR_SLOT = SLOT_BY_ENCODING.get(VMCS.VM_INSTRUCTION_ERROR) as number;
/** The `held` mask of a VMCS whose guest state nobody holds. */
const NOTHING_HELD = new Uint8Array(VMCS_FIELDS.length);

/**
 * Where guest-state fields live while a processor holds them instead of the
 * VMCS. A VM exit stores some forty guest-state fields that the VM entry
 * after it loads back unchanged, unless the VMM wrote one: KVM caches them
 * and reads a field from the processor only when asked (vmx_cache_reg). A
 * holder is that cache turned around. While it holds, reading a held field
 * reads the processor, and writing one first stores every held field into
 * the VMCS (`release`), which takes them over again.
 */
export interface GuestStateHolder {
  /** 1 at the slot (`vmcsSlot`) of every field the holder keeps. */
  readonly held: Uint8Array;
  /** A held field's value now (32-bit fields; a held 64-bit field is released before it is read). */
  read(slot: number): number;
  /** Writes every held field into `vmcs` with `setAt`/`setU32At`. */
  store(vmcs: Vmcs): void;
}

export class Vmcs {
  readonly vmwriteExitInformation: boolean;
  // Indexed by the field's position in VMCS_FIELDS. `lo` holds the whole value of fields up to 32 bits.
  private readonly lo = new Uint32Array(VMCS_FIELDS.length);
  private readonly hi = new Uint32Array(VMCS_FIELDS.length);
  // Which fields were written since the last takeChanges(), with their value then: lets a VM entry re-run
  // only the checks that read a field whose value differs. A VM exit stores RIP and the handler moves it
  // back past the instruction, so comparing values (not writes) leaves most exits with nothing to re-check.
  private readonly dirty = new Uint8Array(VMCS_FIELDS.length);
  private readonly baseLo = new Uint32Array(VMCS_FIELDS.length);
  private readonly baseHi = new Uint32Array(VMCS_FIELDS.length);
  private dirtyList: number[] = [];
  private allDirty = true;
  private holder: GuestStateHolder | null = null;
  private held: Uint8Array = NOTHING_HELD;

  constructor(options: VmcsOptions = {}) {
    this.vmwriteExitInformation = options.vmwriteExitInformation ?? false;
    this.reset();
  }

  /** All fields zero. */
  reset(): void {
    this.drop();
    this.lo.fill(0);
    this.hi.fill(0);
    this.allDirty = true;
  }

  /**
   * The slots (see `vmcsSlot`) of the fields whose value changed since the
   * previous call, or 'all' after a reset, restore or the first call.
   */
  takeChanges(): number[] | 'all' {
    this.release();
    this.takes++;
    const written = this.dirtyList;
    const changed: number[] = [];
    for (const i of written) {
      this.dirty[i] = 0;
      if (this.lo[i] !== this.baseLo[i] || this.hi[i] !== this.baseHi[i]) changed.push(i);
    }
    if (written.length > 0) this.dirtyList = [];
    if (this.allDirty) {
      this.allDirty = false;
      return 'all';
    }
    return changed;
  }

  /** Calls of takeChanges() so far: who remembers a result of it can tell whether anybody took changes since. */
  get changeTakes(): number {
    return this.takes;
  }
  private takes = 0;

  /**
   * Would takeChanges() report anything now? (Does not take them.) Fields a
   * holder keeps are not looked at: whoever asks while a holder holds must
   * know by other means whether they changed.
   */
  changedSinceTake(): boolean {
    if (this.allDirty) return true;
    for (const i of this.dirtyList) if (this.lo[i] !== this.baseLo[i] || this.hi[i] !== this.baseHi[i]) return true;
    return false;
  }

  // --- guest state held by a processor ---------------------------------------

  /** From now on the held fields live in `holder` (see GuestStateHolder). */
  hold(holder: GuestStateHolder): void {
    this.holder = holder;
    this.held = holder.held;
  }

  /** Does a holder keep the guest state now? */
  get isHeld(): boolean {
    return this.holder !== null;
  }

  /** Stores the held fields into the VMCS and ends the holding; false when nothing was held. */
  release(): boolean {
    const h = this.holder;
    if (h === null) return false;
    this.holder = null;
    this.held = NOTHING_HELD;
    h.store(this);
    return true;
  }

  /** Ends the holding without storing (the fields are about to be replaced). */
  private drop(): void {
    this.holder = null;
    this.held = NOTHING_HELD;
  }

  /** Call before writing slot i: remembers the value the last takeChanges() saw. */
  private touch(i: number): void {
    if (this.dirty[i] === 0) {
      this.dirty[i] = 1;
      this.baseLo[i] = this.lo[i];
      this.baseHi[i] = this.hi[i];
      this.dirtyList.push(i);
    }
  }

  /** VMREAD with a 32-bit operand. */
  vmread(encoding: number): VmxResult {
    const access = resolveAccess(encoding);
    if (!access) return this.fail(VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    const i = SLOT_BY_ENCODING.get(access.field.encoding) as number;
    if (this.held[i] !== 0) this.release();
    return { ok: true, value: access.high ? this.hi[i] : this.lo[i] };
  }

  /** VMWRITE with a 32-bit operand. */
  vmwrite(encoding: number, value: number): VmxResult {
    const access = resolveAccess(encoding);
    if (!access) return this.fail(VMXERR_UNSUPPORTED_VMCS_COMPONENT);
    if (access.field.readOnly && !this.vmwriteExitInformation) return this.fail(VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT);
    const v = value >>> 0;
    const i = SLOT_BY_ENCODING.get(access.field.encoding) as number;
    if (this.held[i] !== 0) this.release();
    this.touch(i);
    if (access.high) {
      this.hi[i] = v;
    } else if (IS64[i]) {
      this.lo[i] = v;
      this.hi[i] = 0;
    } else {
      this.lo[i] = truncate(v, BITS[i]);
    }
    return { ok: true, value: v };
  }

  /** Engine access, no VMX checks (read-only fields included). 64-bit values above 2^53 lose precision: use getBig. */
  get(name: VmcsFieldName): number {
    return this.getAt(slot(name));
  }

  getBig(name: VmcsFieldName): bigint {
    const i = slot(name);
    if (this.held[i] !== 0) this.release();
    return (BigInt(this.hi[i]) << 32n) | BigInt(this.lo[i]);
  }

  /** `get` by slot number (`vmcsSlot`), for the VM exit and entry paths that touch dozens of fields. */
  getAt(i: number): number {
    if (this.held[i] !== 0) {
      if (!IS64[i]) return (this.holder as GuestStateHolder).read(i);
      this.release();
    }
    return IS64[i] ? this.hi[i] * TWO32 + this.lo[i] : this.lo[i];
  }

  /**
   * Bits 31:0 of a field no holder keeps (a control word): what the exit and
   * entry paths test a dozen times per exit, without the checks of `getAt`.
   */
  lowAt(i: number): number {
    return this.lo[i];
  }

  /** Engine access: sets any field (exit information included), truncated to the field width. */
  set(name: VmcsFieldName, value: number | bigint): void {
    this.setAt(slot(name), value);
  }

  /** `set` by slot number (`vmcsSlot`). */
  setAt(i: number, value: number | bigint): void {
    if (this.held[i] !== 0) this.release();
    if (typeof value === 'number' && value >= -0x80000000 && value <= 0xffffffff && (value >>> 0 === value || (value | 0) === value)) {
      // A 32-bit value (signed or not): no BigInt needed. Negative values sign-extend into a 64-bit field.
      const lo = (value & LOW_MASK[i]) >>> 0;
      const hi = value < 0 && IS64[i] ? 0xffffffff : 0;
      if (this.lo[i] !== lo || this.hi[i] !== hi) {
        this.touch(i);
        this.lo[i] = lo;
        this.hi[i] = hi;
      }
      return;
    }
    const big = BigInt.asUintN(BITS[i], typeof value === 'bigint' ? value : BigInt(Math.trunc(value)));
    const lo = Number(big & 0xffffffffn);
    const hi = IS64[i] ? Number(big >> 32n) : 0;
    if (this.lo[i] !== lo || this.hi[i] !== hi) {
      this.touch(i);
      this.lo[i] = lo;
      this.hi[i] = hi;
    }
  }

  /**
   * `setAt` for a value the caller knows is an unsigned 32-bit integer (a
   * register read with `>>> 0`): what a VM exit stores dozens of times, so
   * it skips the type and range tests.
   */
  setU32At(i: number, value: number): void {
    if (this.held[i] !== 0) this.release();
    const lo = (value & LOW_MASK[i]) >>> 0;
    if (this.lo[i] !== lo || this.hi[i] !== 0) {
      this.touch(i);
      this.lo[i] = lo;
      this.hi[i] = 0;
    }
  }

  /** Records a VMfailValid error number (the engine uses this for VMLAUNCH/VMRESUME failures too). */
  setInstructionError(error: number): void {
    this.touch(ERROR_SLOT);
    this.lo[ERROR_SLOT] = error >>> 0;
  }

  /** Every field with its value, in table order. */
  entries(): { field: VmcsField; value: number; high?: number }[] {
    this.release();
    return VMCS_FIELDS.map((field, i) => (IS64[i] ? { field, value: this.lo[i], high: this.hi[i] } : { field, value: this.lo[i] }));
  }

  snapshot(): VmcsSnapshot {
    this.release();
    const fields: Record<string, number> = {};
    const high: Record<string, number> = {};
    VMCS_FIELDS.forEach((f, i) => {
      fields[f.name] = this.lo[i];
      if (IS64[i]) high[f.name] = this.hi[i];
    });
    return { fields, high };
  }

  /** Replaces every field's value; fields missing from the snapshot become 0. Unknown names are an error. */
  restore(s: VmcsSnapshot): void {
    for (const name of [...Object.keys(s.fields), ...Object.keys(s.high)]) {
      if (!fieldByName(name)) throw new Error(`VMCS snapshot names unknown field '${name}'`);
    }
    this.reset();
    VMCS_FIELDS.forEach((f, i) => {
      this.lo[i] = truncate((s.fields[f.name] ?? 0) >>> 0, Math.min(32, BITS[i]));
      if (IS64[i]) this.hi[i] = (s.high[f.name] ?? 0) >>> 0;
    });
  }

  private fail(error: number): VmxResult {
    this.setInstructionError(error);
    return { ok: false, error };
  }
}

function truncate(v: number, bitsWide: number): number {
  return bitsWide >= 32 ? v >>> 0 : v & ((1 << bitsWide) - 1);
}

/** A field's slot number (its index in VMCS_FIELDS), as `takeChanges` reports it. */
export function vmcsSlot(name: VmcsFieldName): number {
  return slot(name);
}

function slot(name: VmcsFieldName): number {
  const i = SLOT_BY_NAME.get(name);
  if (i === undefined) throw new Error(`no VMCS field '${name}'`);
  return i;
}
