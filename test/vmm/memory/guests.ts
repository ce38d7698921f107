// Guest programs for the memory tests, assembled from source.
import { assemble } from '../../../src/x86/asm/index';
import { Machine } from '../../../src/x86/machine';

export const ORG = 0x100000;

function build(source: string): { bytes: Uint8Array; symbols: Map<string, number> } {
  const r = assemble(source, { fileName: 'guest.asm', bits: 32, org: ORG });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r;
}

export interface Guest { m: Machine; symbols: Map<string, number> }

/**
 * Builds 32-bit page tables and turns paging on:
 *   PD at 0x10000; PDE[0] -> PT 0x12000 identity-mapping 0-4 MiB (supervisor RW);
 *   PDE[1] is a 4 MiB page 0x400000 -> 0x800000; PDE[0x300] -> PT 0x11000 (user RW) with
 *   PTE[0] 0xC0000000 -> 0x300000 (supervisor RW), PTE[1] not present,
 *   PTE[2] 0xC0002000 -> 0x302000 (user read-only).
 * Then reads 0xC0000120, writes 0xC0000124, reads 0xC0002000, stops at `hlt`
 * (label `first_hlt`), and after it reads 0xC0000120 into ECX and halts again.
 */
/**
 * The page directory at 0x10000 and its tables, before paging is turned on: PDE[0] -> PT
 * 0x12000 identity-mapping 0-4 MiB (supervisor RW), PDE[1] a 4 MiB page 0x400000 -> 0x800000,
 * PDE[0x300] -> PT 0x11000 (user RW, its PTEs left to the guest). Defines the label `fill`.
 */
export const PAGE_TABLES = `
  mov edi, 0x10000
  xor eax, eax
  mov ecx, 2048
  rep stosd
  mov edi, 0x12000
  mov eax, 0x003
  mov ecx, 1024
fill:
  stosd
  add eax, 0x1000
  loop fill
  mov dword [0x10000], 0x12003
  mov dword [0x10004], 0x800083
  mov dword [0x10000 + 0x300*4], 0x11007
`;

/** CR4.PSE on, CR3 = 0x10000 (the directory the guests here build), then CR0.PG on. */
export const PAGING_ON = `  mov eax, cr4
  or eax, 0x10
  mov cr4, eax
  mov eax, 0x10000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
`;

export const PAGING_GUEST = `${PAGE_TABLES}  mov dword [0x11000], 0x300003
  mov dword [0x11008], 0x302005
  mov dword [0x300120], 0xdeadbeef
  mov dword [0x302000], 0x5eed
${PAGING_ON}  mov eax, [0xC0000120]
  mov dword [0xC0000124], 0x12345678
  mov ebx, [0xC0002000]
  mov esi, 0x3f8
  mov dx, si
  mov al, 'K'
  out dx, al
first_hlt:
  hlt
  mov ecx, [0xC0000120]
  hlt
`;

export function flatGuest(source: string, memorySize = 32 << 20): Guest {
  const m = new Machine({ memorySize });
  const r = build(source);
  m.loadFlat32(r.bytes, ORG);
  return { m, symbols: r.symbols };
}

export const pagingGuest = (): Guest => flatGuest(PAGING_GUEST);

/** Copies every touched page below `size` up by `offset` (guest RAM moved to where the EPT maps it). */
export function relocateRam(m: Machine, size: number, offset: number): void {
  for (const [p, bytes, rom] of m.memory.touchedPages()) {
    if (p * 0x1000 < size) m.memory.setPage(p + offset / 0x1000, bytes, rom);
  }
}
