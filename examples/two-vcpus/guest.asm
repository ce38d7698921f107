; Two vCPUs share one counter. vCPU 0 (the boot processor) starts vCPU 1 with
; the START_VCPU hypercall; both add 1 to the counter ROUNDS times with
; LOCK XADD and execute a CPUID (a VM exit) every CPUID_EVERY rounds, so the
; exit trace shows how the scheduler interleaves them. vCPU 1 then sets a flag
; and halts; vCPU 0 spins with PAUSE (no exit: PAUSE exiting is off) until it
; sees the flag, prints the counter in decimal to port 0xE9 and shuts down.
; The result is 2 x ROUNDS whatever the slice length or the number of pCPUs.

%define ROUNDS       1000
%define CPUID_EVERY  250
%define HC_START     4
%define HC_SHUTDOWN  3

        bits 32
        org 0x1000

start:  mov eax, HC_START
        mov ebx, 1              ; vCPU index
        mov ecx, ap_entry       ; where it starts, in our own flat 32-bit mode
        mov edx, 0x70000        ; its stack
        vmcall
        test eax, eax
        jnz failed
        call work
.wait:  pause
        cmp dword [done], 1
        jne .wait
        mov eax, [counter]
        call print_decimal
        mov al, 10
        out 0xE9, al
        mov eax, HC_SHUTDOWN
        xor ebx, ebx
        vmcall

failed: mov eax, HC_SHUTDOWN
        mov ebx, 1
        vmcall

ap_entry:
        call work
        mov dword [done], 1
        cli
        hlt

; Adds 1 to the counter ROUNDS times, with a CPUID every CPUID_EVERY rounds.
work:   mov esi, ROUNDS
.next:  mov eax, 1
        lock xadd [counter], eax
        mov eax, esi
        xor edx, edx
        mov ecx, CPUID_EVERY
        div ecx
        test edx, edx
        jnz .skip
        xor eax, eax
        cpuid
.skip:  dec esi
        jnz .next
        ret

; EAX in decimal to port 0xE9.
print_decimal:
        mov ecx, 10
        xor ebx, ebx
.div:   xor edx, edx
        div ecx
        push edx
        inc ebx
        test eax, eax
        jnz .div
.out:   pop eax
        add al, '0'
        out 0xE9, al
        dec ebx
        jnz .out
        ret

        align 4
counter: dd 0
done:    dd 0
