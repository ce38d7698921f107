// The CPUID the guest sees: the machine's own leaves, the hypervisor-present
// bit, and the hypervisor leaves at 0x40000000 (the range Intel reserves for
// software; KVM, Hyper-V and Xen put their signature there).

import { cpuidLeaf } from '../../x86/cpu/compile-system';

/** Register values of one leaf, in the order EAX, EBX, ECX, EDX. */
export interface CpuidRegs { eax: number; ebx: number; ecx: number; edx: number }

export const HYPERVISOR_LEAF = 0x40000000;
/** Leaf 1 ECX bit 31: "a hypervisor is present" (reserved for this use by Intel and AMD). */
export const CPUID_1_ECX_HYPERVISOR = 0x80000000;
export const HYPERVISOR_SIGNATURE = 'Hyperstep';

/** Little-endian packing of four characters, as CPUID vendor strings are read. */
export function packSignature(s: string): [number, number, number] {
  const bytes = new Uint8Array(12);
  for (let i = 0; i < Math.min(12, s.length); i++) bytes[i] = s.charCodeAt(i) & 0xff;
  const word = (o: number): number => (bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24)) >>> 0;
  return [word(0), word(4), word(8)];
}

export class CpuidTable {
  private readonly overrides = new Map<number, CpuidRegs>();

  /** `leaves` replace whole leaves; everything else comes from the machine plus the hypervisor leaves. */
  constructor(leaves: Readonly<Record<number, CpuidRegs>> = {}) {
    for (const [k, v] of Object.entries(leaves)) this.overrides.set(Number(k) >>> 0, { ...v });
  }

  set(leaf: number, regs: CpuidRegs): void {
    this.overrides.set(leaf >>> 0, { ...regs });
    this.computed.delete(leaf >>> 0);
  }

  /**
   * The registers leaf `leaf` returns. The result is shared and frozen: the
   * CPUID handler runs on every exit of a CPUID loop, so no leaf is computed
   * twice (the machine's leaves ignore the subleaf).
   */
  lookup(leaf: number, subleaf: number): Readonly<CpuidRegs> {
    const l = leaf >>> 0;
    let regs = this.computed.get(l);
    if (regs === undefined) {
      regs = Object.freeze(this.compute(l, subleaf));
      this.computed.set(l, regs);
    }
    return regs;
  }

  private readonly computed = new Map<number, Readonly<CpuidRegs>>();

  private compute(l: number, subleaf: number): CpuidRegs {
    const o = this.overrides.get(l);
    if (o !== undefined) return { ...o };
    if (l === HYPERVISOR_LEAF) {
      const [ebx, ecx, edx] = packSignature(HYPERVISOR_SIGNATURE);
      // EAX: the highest hypervisor leaf.
      return { eax: HYPERVISOR_LEAF + 1, ebx, ecx, edx };
    }
    if (l === HYPERVISOR_LEAF + 1) return { eax: 0, ebx: 0, ecx: 0, edx: 0 }; // no paravirtual features yet
    const [eax, ebx, edx, ecx] = cpuidLeaf(l, subleaf);
    if (l === 1) return { eax, ebx, ecx: (ecx | CPUID_1_ECX_HYPERVISOR) >>> 0, edx };
    return { eax, ebx, ecx, edx };
  }
}
