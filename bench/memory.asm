; Memory loop with paging on: load, add, store, and a call to a function that
; increments memory. Code, data and stack live on different pages.
%define ITERATIONS 25000000
%include "pm-entry.inc"
DATA    equ 0x200000                ; 2 MiB: data page
PD      equ 0x100000
PT      equ 0x101000
bump:   inc dword [DATA + 0x800]
        ret
main:
        ; identity-map the first 4 MiB with 4 KiB pages
        mov edi, PD
        xor eax, eax
        mov ecx, 2048
        rep stosd
        mov dword [PD], PT | 3
        mov edi, PT
        mov eax, 3
        mov ecx, 1024
.map:   stosd
        add eax, 0x1000
        loop .map
        mov eax, PD
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax

        mov ecx, ITERATIONS
.loop:  mov eax, [DATA]
        add eax, ecx
        mov [DATA + 4], eax
        call bump
        dec ecx
        jnz .loop
%include "finish.inc"
