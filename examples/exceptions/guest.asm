; exceptions: the exception bitmap. #UD and #BP exit and are reflected into the
; guest's IDT; #PF exits as PAGE_FAULT_ERROR_CODE_MASK/MATCH decide; #GP does not exit.
; Flat 32-bit protected mode at 0x1000; vm.json sets the exception bitmap.
;   hyperstep run examples/exceptions/guest.asm --vm examples/exceptions/vm.json --trace exits
bits 32
org 0x1000

PD equ 0x10000                  ; page directory
PT equ 0x11000                  ; page table for 0-4 MiB

start:
    lidt [idtr]                 ; gates for #BP, #UD, #GP, #PF (no exit: descriptor-table exiting is off)

    ; Paging, so that there can be page faults: identity-map 0-4 MiB with
    ; 4 KiB pages, except 0x200000 (not present) and 0x201000 (read-only).
    mov edi, PD
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov edi, PT
    mov eax, 0x003              ; present, writable
    mov ecx, 1024
.fill:
    stosd
    add eax, 0x1000
    loop .fill
    mov dword [PT + 0x200 * 4], 0x200002    ; not present
    mov dword [PT + 0x201 * 4], 0x201001    ; present, read-only
    mov dword [PD], PT + 3
    mov eax, PD
    mov cr3, eax                ; exit 28: CR3-load exiting (default1 class), no CR3-target values
    mov eax, cr0
    or eax, 0x80010000          ; PG, and WP so that kernel writes honour read-only pages
    mov cr0, eax                ; exit 28: PG is host-owned

    ; 1. #UD is in the bitmap (as in KVM): exit 0, hardware exception (type 3).
    ;    The VMM reflects it; the guest's handler skips the 2-byte UD2.
    ud2

    ; 2. INT3: #BP is in the bitmap (vm.json): exit 0, software exception
    ;    (type 6), instruction length 1. Re-injected with the same type and length.
    int3

    ; 3. #PF is in the bitmap; PAGE_FAULT_ERROR_CODE_MASK and MATCH are 0, so
    ;    every page fault exits (error code AND 0 = 0). Qualification = CR2.
    mov eax, [0x200000]         ; read of a not-present page: error code 0x0
    mov dword [0x201000], 0x1234 ; write to a read-only page: error code 0x3 (P, W)

    ; 4. #GP is not in the bitmap: no exit, the guest's own handler runs.
    mov ax, 0x28                ; past the GDT limit (0x17)
    mov es, ax                  ; #GP(0x28)

    ; Shut down with code 0 when each handler ran as described, else one bit per surprise.
    xor ebx, ebx
    cmp dword [count_ud], 1
    je .c1
    or ebx, 1
.c1:
    cmp dword [count_bp], 1
    je .c2
    or ebx, 2
.c2:
    cmp dword [count_pf], 2
    je .c3
    or ebx, 4
.c3:
    cmp dword [pf_errors], 0x0300    ; the two error codes: 0x0 in bits 7:0, 0x3 in bits 15:8
    je .c4
    or ebx, 8
.c4:
    cmp dword [count_gp], 1
    je .c5
    or ebx, 0x10
.c5:
    cmp dword [gp_error], 0x28
    je .c6
    or ebx, 0x20
.c6:
    mov eax, 3                  ; hypercall 3: shut down, exit code in EBX
    vmcall

ud_handler:                     ; a fault: the saved EIP is the UD2
    inc dword [count_ud]
    add dword [esp], 2
    iretd

bp_handler:                     ; a trap: the saved EIP is already past INT3
    inc dword [count_bp]
    iretd

gp_handler:                     ; skip the 2-byte MOV ES, AX
    pop dword [gp_error]
    inc dword [count_gp]
    add dword [esp], 2
    iretd

pf_handler:                     ; map the page present and writable, then retry
    pop dword [pf_error]
    push eax
    push ecx
    mov ecx, [count_pf]
    shl ecx, 3
    mov eax, [pf_error]
    shl eax, cl
    or [pf_errors], eax
    inc dword [count_pf]
    mov eax, cr2                ; reading CR2 never exits
    shr eax, 12
    or dword [PT + eax * 4], 3
    mov eax, cr2
    invlpg [eax]                ; INVLPG exiting is off: no exit
    pop ecx
    pop eax
    iretd

align 8
idt:
    dq 0, 0, 0
    dw bp_handler, 0x08, 0x8E00, 0      ; 3 #BP
    dq 0, 0
    dw ud_handler, 0x08, 0x8E00, 0      ; 6 #UD
    times 6 dq 0
    dw gp_handler, 0x08, 0x8E00, 0      ; 13 #GP
    dw pf_handler, 0x08, 0x8E00, 0      ; 14 #PF
idt_end:
idtr:
    dw idt_end - idt - 1
    dd idt

align 4
count_ud:  dd 0
count_bp:  dd 0
count_pf:  dd 0
count_gp:  dd 0
pf_error:  dd 0
pf_errors: dd 0
gp_error:  dd 0
