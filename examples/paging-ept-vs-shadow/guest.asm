; The same paging workload for EPT and for shadow paging (see README.md).
; flat32 at 0x1000, stack below 0x80000.
;   page directory at 0x20000
;   PDE[0]   -> page table 0x21000: identity map of 0-4 MiB (code, stack, IDT, tables)
;   PDE[1]   -> 4 MiB page (CR4.PSE): linear 0x400000 -> physical 0x800000
;   PDE[256] -> page table 0x22000: linear 0x40000000 + i*4K -> physical 0x300000 + i*4K
;               for i < 32; i = 32 is not present until the guest's own #PF handler maps it
; Result: a checksum printed in hex on port 0xE9, then the shutdown hypercall.

bits 32
org 0x1000

PD      equ 0x20000
PT_LOW  equ 0x21000
PT_DATA equ 0x22000
DATA    equ 0x40000000
IDT     equ 0x3000

start:
  ; IDT with one gate: vector 14 -> pf_handler
  mov edi, IDT
  xor eax, eax
  mov ecx, 32*2
  rep stosd
  mov eax, pf_handler
  mov [IDT + 14*8], ax
  mov word [IDT + 14*8 + 2], 0x08
  mov word [IDT + 14*8 + 4], 0x8E00
  shr eax, 16
  mov [IDT + 14*8 + 6], ax
  lidt [idtr]

  ; clear the directory and both tables
  mov edi, PD
  xor eax, eax
  mov ecx, 3*1024
  rep stosd
  ; identity map of 0-4 MiB
  mov edi, PT_LOW
  mov eax, 0x003
  mov ecx, 1024
.low:
  stosd
  add eax, 0x1000
  loop .low
  ; 32 data pages
  mov edi, PT_DATA
  mov eax, 0x300003
  mov ecx, 32
.data:
  stosd
  add eax, 0x1000
  loop .data
  mov dword [PD + 0*4], PT_LOW + 3
  mov dword [PD + 1*4], 0x800083          ; 4 MiB page, present, writable
  mov dword [PD + 256*4], PT_DATA + 3
  ; frames the PTE edits below switch to, with known contents
  mov dword [0x330000], 0xABCD
  mov dword [0x331000], 0x1234

  ; paging on: CR4.PSE, CR3, CR0.PG
  mov eax, cr4
  or eax, 0x10
  mov cr4, eax
  mov eax, PD
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax

  xor esi, esi                            ; checksum
  ; write then read back one dword in each of the 32 data pages
  xor ecx, ecx
.fill:
  mov ebx, ecx
  shl ebx, 12
  lea eax, [ecx*8 + 1]
  mov [DATA + ebx + 0x10], eax
  inc ecx
  cmp ecx, 32
  jne .fill
  xor ecx, ecx
.sum:
  mov ebx, ecx
  shl ebx, 12
  add esi, [DATA + ebx + 0x10]
  inc ecx
  cmp ecx, 32
  jne .sum
  ; eight pages of the 4 MiB page
  xor ecx, ecx
.big:
  mov ebx, ecx
  shl ebx, 16
  lea eax, [ecx + 100]
  mov [0x400000 + ebx], eax
  add esi, [0x400000 + ebx]
  inc ecx
  cmp ecx, 8
  jne .big

  ; a page the guest has not mapped: its #PF handler maps it, the write is retried
  mov dword [DATA + 32*0x1000], 0x55
  add esi, [DATA + 32*0x1000]
  add esi, [pf_count]

  ; retarget PTE 0 and invalidate it: the read sees the new frame
  mov dword [PT_DATA + 0*4], 0x330003
  invlpg [DATA]
  add esi, [DATA]
  ; retarget PTE 1 and reload CR3: the read sees the new frame
  mov dword [PT_DATA + 1*4], 0x331003
  mov eax, cr3
  mov cr3, eax
  add esi, [DATA + 0x1000]

  ; print ESI as eight hex digits and a newline on port 0xE9
  mov ecx, 8
.hex:
  rol esi, 4
  mov eax, esi
  and eax, 0xf
  mov al, [digits + eax]
  out 0xe9, al
  loop .hex
  mov al, 10
  out 0xe9, al
  mov eax, 3
  xor ebx, ebx
  vmcall

; #PF: map the faulting data page to physical 0x320000 and return to retry
pf_handler:
  push eax
  push ebx
  mov eax, cr2
  sub eax, DATA
  shr eax, 12
  mov ebx, eax
  shl ebx, 12
  add ebx, 0x300003
  mov [PT_DATA + eax*4], ebx
  inc dword [pf_count]
  pop ebx
  pop eax
  add esp, 4                              ; the error code
  iretd

idtr:   dw 32*8-1
        dd IDT
digits: db '0123456789ABCDEF'
pf_count: dd 0
