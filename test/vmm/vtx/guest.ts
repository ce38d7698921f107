// Shared test helpers: assemble a flat32 (or real-mode) guest, run it under the VMM, collect exits.
import assert from 'node:assert/strict';
import { assemble } from '../../../src/x86/asm/index';
import { createVm, type Vm, type VmExit, type VmStop, type Vcpu, type VmOptions } from '../../../src/vmm/vtx/index';

export interface GuestRun { vm: Vm; exits: VmExit[]; stop: VmStop; entries: number[] }

export function build(source: string, bits: 16 | 32 = 32, org = 0x1000): Uint8Array {
  const r = assemble(`bits ${bits}\norg 0x${org.toString(16)}\n${source}`, { fileName: 'guest.asm' });
  assert.ok(r.ok, r.diagnostics.map((d) => d.message).join('\n'));
  return r.bytes;
}

export function runGuest(source: string, configure?: (v: Vcpu) => void, extra: Partial<VmOptions> = {}, max = 10000): GuestRun {
  const real = extra.mode === 'real';
  const vm = createVm({ image: build(source, real ? 16 : 32, real ? 0x7c00 : 0x1000), configure, ...extra });
  const exits: VmExit[] = [];
  const entries: number[] = [];
  vm.events.on('exit', (e) => exits.push(e));
  vm.events.on('entry', (e) => entries.push(e.injected));
  const stop = vm.run(max);
  return { vm, exits, stop, entries };
}

/**
 * An IDT at 0x3000 whose gates 0-31 point to one stub per vector; the guest
 * calls `setup_idt`, which loads it with `lidt [idtr]`. Each stub stores
 * its vector at 0x4000 and shuts down through the hypercall with code 0x100+vector.
 */
export const IDT = `
idtr: dw 32*8-1
      dd 0x3000
setup_idt:
  mov edi, 0x3000
  mov ecx, 0
.next:
  mov eax, [stubs + ecx*4]
  mov [edi], ax
  mov word [edi+2], 0x08
  mov word [edi+4], 0x8E00
  shr eax, 16
  mov [edi+6], ax
  add edi, 8
  inc ecx
  cmp ecx, 32
  jne .next
  lidt [idtr]
  ret
${Array.from({ length: 32 }, (_, i) => `stub_${i}:\n  mov dword [0x4000], ${i}\n  mov eax, 3\n  mov ebx, ${0x100 + i}\n  vmcall\n`).join('')}
stubs:
${Array.from({ length: 32 }, (_, i) => `  dd stub_${i}\n`).join('')}
`;

export const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** Remaps the PIC pair to vectors 0x20/0x28 and loads the 16-bit mask `imr` (slave in the high byte; a clear bit lets its line through). */
export const PIC_INIT = (imr: number): string => `  mov al, 0x11
  out 0x20, al
  out 0xa0, al
  mov al, 0x20
  out 0x21, al
  mov al, 0x28
  out 0xa1, al
  mov al, 4
  out 0x21, al
  mov al, 2
  out 0xa1, al
  mov al, 1
  out 0x21, al
  out 0xa1, al
  mov al, ${imr & 0xff}
  out 0x21, al
  mov al, ${imr >> 8}
  out 0xa1, al
`;

/**
 * Guest page tables that identity-map 0-4 MiB with 4 KiB pages: the page directory at 0x10000
 * (other entries empty), its one page table at 0x11000. The guest loads CR3 and sets CR0.PG itself.
 */
export const IDENTITY_PAGING_4M = `  mov edi, 0x10000
  xor eax, eax
  mov ecx, 1024
  rep stosd
  mov edi, 0x11000
  mov eax, 3
  mov ecx, 1024
.id:
  stosd
  add eax, 0x1000
  loop .id
  mov dword [0x10000], 0x11003
`;

/**
 * The boot processor waits until the word at 0x7000 is non-zero, then shuts down (hypercall 3).
 * At 0x9000 (SIPI vector 0x09) a 16-bit start-up routine stores its CS there and halts: what an
 * application processor started by INIT/SIPI runs.
 */
export const WAIT_FOR_AP_GUEST = `
bsp:
  pause
  cmp dword [0x7000], 0
  je bsp
  mov eax, 3
  xor ebx, ebx
  vmcall
  times 0x9000 - 0x1000 - ($ - $$) db 0
  bits 16
  mov ax, cs
  mov [0x7000], ax
  cli
  hlt
`;

/** vCPU 0 starts vCPU 1 at `ap` (START_VCPU hypercall, stack 0x70000), then goes on at `bsp`. */
export const START_AP = `
  mov eax, 4
  mov ebx, 1
  mov ecx, ap
  mov edx, 0x70000
  vmcall
  jmp bsp
`;
