// Model-specific registers. Known MSRs hold plain values; handlers can be
// plugged in for MSRs with side effects. Unknown MSRs raise #GP(0) (the
// caller turns `undefined` into the fault).

export interface MsrHandler {
  read(index: number): bigint;
  write(index: number, value: bigint): void;
}

export const MSR = {
  TSC: 0x10,
  APIC_BASE: 0x1b,
  FEATURE_CONTROL: 0x3a,
  SYSENTER_CS: 0x174,
  SYSENTER_ESP: 0x175,
  SYSENTER_EIP: 0x176,
  MISC_ENABLE: 0x1a0,
  PAT: 0x277,
  EFER: 0xc0000080,
} as const;

export class MsrSpace {
  private readonly values = new Map<number, bigint>();
  private readonly handlers = new Map<number, MsrHandler>();
  /** Bumped by every change of a stored value, so a VMM can skip copying MSRs that did not change. */
  generation = 0;

  constructor() {
    this.reset();
  }

  reset(): void {
    this.generation++;
    this.values.clear();
    this.values.set(MSR.APIC_BASE, 0xfee00900n);
    this.values.set(MSR.FEATURE_CONTROL, 0n);
    this.values.set(MSR.SYSENTER_CS, 0n);
    this.values.set(MSR.SYSENTER_ESP, 0n);
    this.values.set(MSR.SYSENTER_EIP, 0n);
    this.values.set(MSR.MISC_ENABLE, 1n);
    this.values.set(MSR.PAT, 0x0007040600070406n);
    this.values.set(MSR.EFER, 0n);
  }

  /** Plugs a handler for one MSR (replacing any stored value). */
  plug(index: number, handler: MsrHandler): void {
    this.generation++;
    this.handlers.set(index >>> 0, handler);
  }

  /** Declares a plain stored MSR. */
  define(index: number, initial = 0n): void {
    this.generation++;
    this.values.set(index >>> 0, initial);
  }

  has(index: number): boolean {
    return this.handlers.has(index >>> 0) || this.values.has(index >>> 0);
  }

  /** undefined when the MSR does not exist. */
  read(index: number): bigint | undefined {
    const h = this.handlers.get(index >>> 0);
    if (h) return BigInt.asUintN(64, h.read(index >>> 0));
    return this.values.get(index >>> 0);
  }

  /** false when the MSR does not exist. */
  write(index: number, value: bigint): boolean {
    const i = index >>> 0;
    const h = this.handlers.get(i);
    if (h) { h.write(i, BigInt.asUintN(64, value)); return true; }
    if (!this.values.has(i)) return false;
    this.generation++;
    this.values.set(i, BigInt.asUintN(64, value));
    return true;
  }

  /** Stored values as hex strings (handlers keep their own state). */
  snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of this.values) out[k.toString(16)] = v.toString(16);
    return out;
  }

  restore(s: Record<string, string>): void {
    this.generation++;
    this.values.clear();
    for (const k of Object.keys(s)) this.values.set(parseInt(k, 16), BigInt('0x' + s[k]));
  }
}
