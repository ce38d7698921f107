; Page-fault-heavy guest for the shadow-paging vs EPT benchmark. It builds
; 32-bit page tables that map 0-4 MiB identity and PAGES pages of a 16 MiB
; window at 8 MiB, turns paging on, then ROUNDS times: writes one dword to
; each of the PAGES pages (a TLB miss per page), reloads CR3 (flushing the
; TLB) and, every round, INVLPGs the first page. Under shadow paging the VMM
; sees the CR3 loads and the faults that fill its shadow tables; under EPT
; the guest's own tables are walked in hardware. Flat 32-bit guest at 0x1000.
%define PAGES 1024
%define ROUNDS 20
        bits 32
        org 0x1000
PD      equ 0x100000                ; page directory
PT0     equ 0x101000                ; page table for 0-4 MiB
PTW     equ 0x102000                ; page tables for the window (4 tables, 16 MiB)
WINDOW  equ 0x800000                ; 8 MiB: the pages touched

        mov edi, PD                 ; clear the directory and five tables
        xor eax, eax
        mov ecx, 6 * 1024
        rep stosd
        mov dword [PD], PT0 | 3
        mov edi, PT0                ; identity-map 0-4 MiB
        mov eax, 3
        mov ecx, 1024
.id:    stosd
        add eax, 0x1000
        loop .id
        mov ebx, 0                  ; four directory entries for the window
.pde:   mov eax, ebx
        shl eax, 12
        add eax, PTW | 3
        mov [PD + (WINDOW >> 22) * 4 + ebx * 4], eax
        inc ebx
        cmp ebx, 4
        jne .pde
        mov edi, PTW                ; map the window identity too
        mov eax, WINDOW | 3
        mov ecx, 4096
.win:   stosd
        add eax, 0x1000
        loop .win
        mov eax, PD
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax

        mov ebp, ROUNDS
.round: mov edi, WINDOW
        mov ecx, PAGES
.touch: mov [edi], ecx
        add edi, 0x1000
        dec ecx
        jnz .touch
        invlpg [WINDOW]
        mov eax, PD
        mov cr3, eax
        dec ebp
        jnz .round
        cli
        hlt
