; CPUID loop for the VM-exit benchmark: ITERATIONS CPUIDs of leaf 0. Under
; the VMM every CPUID is a VM exit (exit 10) and a handler; on the bare
; machine it is an ordinary instruction. Flat 32-bit guest at 0x1000 (the
; VMM's default load address); HLT with interrupts off ends both runs.
%define ITERATIONS 2000000
        bits 32
        org 0x1000
        mov esi, ITERATIONS
.loop:  xor eax, eax
        cpuid
        dec esi
        jnz .loop
        cli
        hlt
