// The EPT pointer and EPT paging-structure entries as the SDM lays them out
// (Vol. 3C 25.6.11 "Extended-Page-Table Pointer", 29.3.2 "EPT Translation
// Mechanism", 29.3.3.1 "EPT Misconfigurations"). Entries are 64-bit; the
// simulated host has 32-bit physical addresses (MAXPHYADDR = 32), so an
// entry is held as two 32-bit halves and bits 51:32 are reserved.

/** Host physical-address width: bits 51:MAXPHYADDR of addresses in entries are reserved. */
export const MAXPHYADDR = 32;

/** EPT entry bits (low half). */
export const EPT_R = 1 << 0;
export const EPT_W = 1 << 1;
export const EPT_X = 1 << 2;
export const EPT_RWX = 7;
export const EPT_MEMTYPE_SHIFT = 3;
export const EPT_MEMTYPE_MASK = 7 << 3;
export const EPT_IGNORE_PAT = 1 << 6;
export const EPT_LARGE = 1 << 7;
export const EPT_ACCESSED = 1 << 8;
export const EPT_DIRTY = 1 << 9;
/** User-mode execute; only meaningful with mode-based execute control, which is not modelled (ignored). */
export const EPT_USER_X = 1 << 10;
/** Page-frame / next-table address bits 31:12 of the low half. */
export const EPT_ADDR_MASK = 0xfffff000;
/** Bits 51:32 (the high half's low 20 bits) are reserved with MAXPHYADDR = 32. */
export const EPT_HI_RESERVED = 0x000fffff;

/** EPTP bits. */
export const EPTP_MEMTYPE_MASK = 7;
export const EPTP_WALK_SHIFT = 3;
export const EPTP_WALK_MASK = 7 << 3;
/** Page-walk length minus one for a 4-level walk (Linux VMX_EPTP_PWL_4 = 0x18). */
export const EPTP_WALK_4 = 3 << 3;
export const EPTP_AD = 1 << 6;

/** Memory types (SDM Vol. 3A 12.3 / 12.11): EPT leaves and the EPTP use these numbers. */
export const MEMTYPE = { UC: 0, WC: 1, WT: 4, WP: 5, WB: 6 } as const;
export const MEMTYPE_NAMES: Record<number, string> = { 0: 'UC', 1: 'WC', 4: 'WT', 5: 'WP', 6: 'WB' };
/** Memory types 2, 3 and 7 are reserved: a leaf holding one is a misconfiguration. */
const RESERVED_MEMTYPES = new Set([2, 3, 7]);

/** Levels of the walk, outermost first. */
export type EptLevel = 4 | 3 | 2 | 1;
export const EPT_LEVEL_NAMES: Record<EptLevel, 'PML4E' | 'PDPTE' | 'PDE' | 'PTE'> = { 4: 'PML4E', 3: 'PDPTE', 2: 'PDE', 1: 'PTE' };
/** Bytes mapped by one entry at each level. */
export const EPT_LEVEL_SPAN: Record<EptLevel, number> = { 4: 2 ** 39, 3: 2 ** 30, 2: 2 ** 21, 1: 2 ** 12 };
export const PAGE_4K = 0x1000;
export const PAGE_2M = 0x200000;
export const PAGE_1G = 0x40000000;

/** Index of a GPA within the table at a level: bits 47:39, 38:30, 29:21, 20:12. */
export function eptIndex(gpa: number, level: EptLevel): number {
  return Math.floor(gpa / EPT_LEVEL_SPAN[level]) % 512;
}

/** What the processor supports (IA32_VMX_EPT_VPID_CAP bits this model honours). */
export interface EptCaps {
  /** Bit 0: execute-only translations (RWX = 100b) are allowed. */
  executeOnly: boolean;
  /** Bit 16: 2 MiB pages (PDE bit 7). */
  pages2M: boolean;
  /** Bit 17: 1 GiB pages (PDPTE bit 7). */
  pages1G: boolean;
  /** Bit 21: accessed and dirty flags (EPTP bit 6). */
  accessedDirty: boolean;
}

export const DEFAULT_EPT_CAPS: EptCaps = { executeOnly: true, pages2M: true, pages1G: true, accessedDirty: true };

export interface EptpFields {
  /** Bits 2:0: memory type for accessing the EPT paging structures (0 UC, 6 WB). */
  memoryType: number;
  /** Bits 5:3 plus one. */
  walkLength: number;
  /** Bit 6. */
  accessedDirty: boolean;
  /** Bits N-1:12: host-physical address of the PML4 table. */
  pml4: number;
}

export function encodeEptp(f: { pml4: number; memoryType?: number; accessedDirty?: boolean }): bigint {
  if (f.pml4 % PAGE_4K !== 0 || f.pml4 < 0 || f.pml4 >= 2 ** MAXPHYADDR) throw new RangeError(`PML4 address 0x${f.pml4.toString(16)} is not a 4 KiB-aligned host-physical address`);
  const low = (f.pml4 | EPTP_WALK_4 | (f.accessedDirty === true ? EPTP_AD : 0) | ((f.memoryType ?? MEMTYPE.WB) & EPTP_MEMTYPE_MASK)) >>> 0;
  return BigInt(low);
}

export function decodeEptp(eptp: bigint): EptpFields {
  const low = Number(eptp & 0xffffffffn);
  return {
    memoryType: low & EPTP_MEMTYPE_MASK,
    walkLength: ((low & EPTP_WALK_MASK) >>> EPTP_WALK_SHIFT) + 1,
    accessedDirty: (low & EPTP_AD) !== 0,
    pml4: (low & EPT_ADDR_MASK) >>> 0,
  };
}

/**
 * The VM-entry checks on the EPTP field (SDM 27.2.1.1): an empty list means
 * the value is usable. VM entry fails with VM-instruction error 7 otherwise.
 */
export function eptpProblems(eptp: bigint, caps: EptCaps = DEFAULT_EPT_CAPS): string[] {
  const out: string[] = [];
  const f = decodeEptp(eptp);
  if (f.memoryType !== MEMTYPE.UC && f.memoryType !== MEMTYPE.WB) out.push(`memory type ${f.memoryType} is neither UC (0) nor WB (6)`);
  if (f.walkLength !== 4) out.push(`page-walk length ${f.walkLength} is not 4`);
  if (f.accessedDirty && !caps.accessedDirty) out.push('accessed/dirty flags enabled but not supported');
  if ((eptp & 0xf80n) !== 0n) out.push('reserved bits 11:7 are set');
  if ((eptp >> BigInt(MAXPHYADDR)) !== 0n) out.push(`reserved bits 63:${MAXPHYADDR} are set`);
  return out;
}

/** One entry decoded for display. Fields that a level does not have are absent. */
export interface EptEntryFlags {
  read: boolean;
  write: boolean;
  execute: boolean;
  /** Bits 2:0 nonzero. */
  present: boolean;
  /** Maps a page (PTE, or PDE/PDPTE with bit 7) rather than pointing to a table. */
  leaf: boolean;
  /** Bit 7 in a PDE/PDPTE. */
  largePage: boolean;
  /** Leaf only: bits 5:3. */
  memoryType?: number;
  /** Leaf only: bit 6. */
  ignorePat?: boolean;
  accessed: boolean;
  /** Leaf only: bit 9. */
  dirty?: boolean;
  /** Bits 31:12 (the page frame for a leaf, the next table otherwise), masked to the level's alignment for large pages. */
  address: number;
}

export function isLeaf(lo: number, level: EptLevel): boolean {
  return level === 1 || ((level === 2 || level === 3) && (lo & EPT_LARGE) !== 0);
}

export function decodeEptEntry(lo: number, level: EptLevel): EptEntryFlags {
  const leaf = isLeaf(lo, level);
  const span = leaf ? EPT_LEVEL_SPAN[level] : PAGE_4K;
  const f: EptEntryFlags = {
    read: (lo & EPT_R) !== 0,
    write: (lo & EPT_W) !== 0,
    execute: (lo & EPT_X) !== 0,
    present: (lo & EPT_RWX) !== 0,
    leaf,
    largePage: leaf && level > 1,
    accessed: (lo & EPT_ACCESSED) !== 0,
    address: (lo & ~(span - 1) & EPT_ADDR_MASK) >>> 0,
  };
  if (leaf) {
    f.memoryType = (lo & EPT_MEMTYPE_MASK) >>> EPT_MEMTYPE_SHIFT;
    f.ignorePat = (lo & EPT_IGNORE_PAT) !== 0;
    f.dirty = (lo & EPT_DIRTY) !== 0;
  }
  return f;
}

/** Reserved bits of the low half for a present entry at a level (SDM Tables 29-1 to 29-6). */
function reservedLow(lo: number, level: EptLevel, caps: EptCaps): number {
  switch (level) {
    case 4: return 0xf8; // bits 7:3
    case 3:
      if ((lo & EPT_LARGE) === 0) return 0xf8; // bits 7:3
      return caps.pages1G ? 0x3ffff000 : EPT_LARGE; // bits 29:12 of a 1 GiB leaf
    case 2:
      if ((lo & EPT_LARGE) === 0) return 0x78; // bits 6:3
      return caps.pages2M ? 0x001ff000 : EPT_LARGE; // bits 20:12 of a 2 MiB leaf
    case 1: return 0;
  }
}

/**
 * Why a present entry is misconfigured (SDM 29.3.3.1), or null. A
 * not-present entry (bits 2:0 clear) is never misconfigured: it causes an
 * EPT violation instead.
 */
export function eptMisconfiguration(lo: number, hi: number, level: EptLevel, caps: EptCaps = DEFAULT_EPT_CAPS): string | null {
  const rwx = lo & EPT_RWX;
  if (rwx === 0) return null;
  if ((rwx & (EPT_R | EPT_W)) === EPT_W) return `${EPT_LEVEL_NAMES[level]} is writable but not readable (RWX = ${rwx.toString(2).padStart(3, '0')}b)`;
  if (rwx === EPT_X && !caps.executeOnly) return `${EPT_LEVEL_NAMES[level]} is execute-only, which is not supported`;
  const rsv = lo & reservedLow(lo, level, caps);
  if (rsv !== 0) return `${EPT_LEVEL_NAMES[level]} has reserved bits set (0x${(rsv >>> 0).toString(16)})`;
  if ((hi & EPT_HI_RESERVED) !== 0) return `${EPT_LEVEL_NAMES[level]} has reserved address bits 51:${MAXPHYADDR} set`;
  if (isLeaf(lo, level)) {
    const mt = (lo & EPT_MEMTYPE_MASK) >>> EPT_MEMTYPE_SHIFT;
    if (RESERVED_MEMTYPES.has(mt)) return `${EPT_LEVEL_NAMES[level]} has reserved memory type ${mt}`;
  }
  return null;
}

/** Permissions written as in "rwx", "r-x", "---". */
export type EptPerms = { read: boolean; write: boolean; execute: boolean } | string;

export function permBits(p: EptPerms): number {
  if (typeof p !== 'string') return (p.read ? EPT_R : 0) | (p.write ? EPT_W : 0) | (p.execute ? EPT_X : 0);
  if (!/^[r-][w-][x-]$/.test(p)) throw new RangeError(`permissions "${p}" are not of the form "rwx" / "r-x" / "---"`);
  return (p[0] === 'r' ? EPT_R : 0) | (p[1] === 'w' ? EPT_W : 0) | (p[2] === 'x' ? EPT_X : 0);
}

export function permString(bits: number): string {
  return `${bits & EPT_R ? 'r' : '-'}${bits & EPT_W ? 'w' : '-'}${bits & EPT_X ? 'x' : '-'}`;
}

export function entryValue(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
