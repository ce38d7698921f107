; cpuid-hlt-io-msr: the everyday VM exits of a KVM-like VMM, one after another.
; Flat 32-bit protected mode, loaded and started at 0x1000.
;   hyperstep run examples/cpuid-hlt-io-msr/guest.asm --vm examples/cpuid-hlt-io-msr/vm.json --trace exits
bits 32
org 0x1000

start:
    ; 1. CPUID always exits (reason 10). Leaf 0: highest leaf and vendor string.
    xor eax, eax
    cpuid
    mov [vendor], ebx
    mov [vendor + 4], edx
    mov [vendor + 8], ecx

    ; 2. The hypervisor leaf: EAX = highest hypervisor leaf, EBX ECX EDX = "Hyperstep".
    mov eax, 0x40000000
    cpuid
    mov [signature], ebx
    mov [signature + 4], ecx
    mov [signature + 8], edx

    ; 3. Port I/O. I/O bitmaps A and B are all ones: every OUT to the debug port
    ;    0xE9 exits (reason 30), and the VMM prints the byte.
    mov esi, signature
.print:
    lodsb
    test al, al
    jz .printed
    out 0xE9, al
    jmp .print
.printed:
    mov al, 10
    out 0xE9, al
    ; IN with the port in DX: COM1's line-status register.
    mov dx, 0x3FD
    in al, dx
    mov [line_status], al

    ; 4. MSRs. vm.json sets the read and write bits of IA32_SYSENTER_CS (0x174)
    ;    in the MSR bitmap: WRMSR exits (32), RDMSR exits (31).
    mov ecx, 0x174
    mov eax, 0x10
    xor edx, edx
    wrmsr
    xor eax, eax
    rdmsr
    mov [sysenter_cs], eax
    ; IA32_SYSENTER_ESP (0x175) has its bits clear: no exit, the CPU does it.
    mov ecx, 0x175
    mov eax, 0x9000
    wrmsr
    rdmsr

    ; 5. RDTSC: "use TSC offsetting" is set and RDTSC exiting is not, so no exit;
    ;    the guest reads the TSC plus TSC_OFFSET (vm.json: 0x100000000000).
    rdtsc
    mov [tsc], eax
    mov [tsc + 4], edx

    ; 6. HLT exiting is set: HLT exits (12). Interrupts are off, nothing can
    ;    wake the vCPU, so the VMM stops the VM.
    cli
    hlt

vendor:      times 12 db 0
             dd 0
signature:   times 12 db 0
             dd 0
line_status: db 0
             align 4
sysenter_cs: dd 0
tsc:         dd 0, 0
