; String copy: rep movsd of a 64 KiB buffer, repeated.
%define ITERATIONS 2000
%include "pm-entry.inc"
SRC     equ 0x200000
DST     equ 0x300000
main:
        mov edx, ITERATIONS
.again: mov esi, SRC
        mov edi, DST
        mov ecx, 16384              ; dwords: 64 KiB
        rep movsd
        dec edx
        jnz .again
%include "finish.inc"
