; ALU loop: add / dec / jnz, three instructions per iteration.
%define ITERATIONS 100000000
%include "pm-entry.inc"
main:
        xor eax, eax
        mov ecx, ITERATIONS
.loop:  add eax, ecx
        dec ecx
        jnz .loop
        mov [0x8000], eax
%include "finish.inc"
