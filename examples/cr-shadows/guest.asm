; cr-shadows: CR0/CR4 guest/host masks and read shadows, CLTS, LMSW, CR3-target values.
; Flat 32-bit protected mode at 0x1000. vm.json makes PG CD NW TS PE host-owned
; (CR0 mask 0xE0000009) with a read shadow that has TS set, and gives
; CR3-load exiting one CR3-target value, 0x20000.
;   hyperstep run examples/cr-shadows/guest.asm --vm examples/cr-shadows/vm.json --trace exits
bits 32
org 0x1000

start:
    lidt [idtr]                 ; a #GP handler, for step 6

    ; 1. Reads never exit. Host-owned bits come from the read shadow:
    ;    CR0 = (GUEST_CR0 AND NOT mask) OR (shadow AND mask) = 0x60000019 (TS looks set).
    mov eax, cr0
    mov [cr0_first], eax
    smsw bx                     ; the same view, 16 bits: 0x0019
    mov [msw_first], bx

    ; 2. A write that changes only guest-owned bits (MP, WP) and leaves the
    ;    host-owned ones equal to the shadow: no exit.
    or eax, 0x00010002
    mov cr0, eax
    mov ecx, cr0
    mov [cr0_guest_owned], ecx  ; 0x6001001B

    ; 3. A write that changes host-owned bits against the shadow (CD and NW
    ;    cleared: caches on): exit 28, MOV to CR0 from EBX.
    mov ebx, ecx
    and ebx, 0x9FFFFFFF
    mov cr0, ebx
    mov edx, cr0
    mov [cr0_after_exit], edx   ; 0x0001001B: the VMM accepted it and updated the shadow

    ; 4. CLTS exits while TS is host-owned and set in the shadow. The VMM clears
    ;    TS in both; the second CLTS finds TS clear in the shadow: no exit.
    clts
    clts

    ; 5. LMSW exits when it changes a host-owned MP/EM/TS (or sets an owned PE
    ;    the shadow has clear). The qualification carries the source operand.
    mov ax, 0x000B              ; PE MP TS: sets TS → exit, register operand
    lmsw ax
    lmsw [msw_value]            ; 0x0003 clears TS → exit, memory operand (bit 6, linear address)
    mov ax, 0x0003              ; owned bits already as in the shadow: no exit
    lmsw ax

    ; 6. CR4: the default mask owns VMXE with a shadow of 0, so the guest does
    ;    not see VMX. PSE is guest-owned: no exit. Setting VMXE exits, and the
    ;    VMM refuses it (no nested virtualization) by injecting #GP(0).
    mov eax, cr4
    mov [cr4_first], eax        ; 0 although the real CR4 has VMXE
    or eax, 0x10
    mov cr4, eax
    or eax, 0x2000
    mov cr4, eax                ; exit 28, then #GP in the guest
    mov eax, cr4
    mov [cr4_last], eax         ; 0x10

    ; 7. CR3-load exiting: a load of a CR3-target value does not exit, any other does.
    ;    (CR3-load and CR3-store exiting are in the primary controls' default1
    ;    class: they are on unless the VMM clears them.)
    mov eax, 0x20000
    mov cr3, eax
    mov esi, 0x30000
    mov cr3, esi                ; exit 28, MOV to CR3 from ESI
    mov edi, cr3                ; exit 28 too: CR3-store exiting; the VMM returns GUEST_CR3
    mov [cr3_last], edi

    ; Shut down with code 0 when every value read is the one the README gives,
    ; else with one bit per wrong value.
    xor ebx, ebx
    cmp dword [cr0_first], 0x60000019
    je .c1
    or ebx, 1
.c1:
    cmp word [msw_first], 0x0019
    je .c2
    or ebx, 2
.c2:
    cmp dword [cr0_guest_owned], 0x6001001B
    je .c3
    or ebx, 4
.c3:
    cmp dword [cr0_after_exit], 0x0001001B
    je .c4
    or ebx, 8
.c4:
    cmp dword [cr4_first], 0
    je .c5
    or ebx, 0x10
.c5:
    cmp dword [cr4_last], 0x10
    je .c6
    or ebx, 0x20
.c6:
    cmp dword [cr3_last], 0x30000
    je .c7
    or ebx, 0x40
.c7:
    cmp dword [gp_count], 1
    je .c8
    or ebx, 0x80
.c8:
    mov eax, 3                  ; hypercall 3: shut down, exit code in EBX
    vmcall

; #GP handler: count it and skip the 3-byte MOV CR4, EAX that faulted.
gp_handler:
    add esp, 4                  ; the error code
    inc dword [gp_count]
    add dword [esp], 3
    iretd

align 8
idt:
    times 13 dq 0
    dw gp_handler               ; vector 13: offset 15:0
    dw 0x08                     ; code selector
    dw 0x8E00                   ; present, DPL 0, 32-bit interrupt gate
    dw 0                        ; offset 31:16 (the guest lies below 64 KiB)
idt_end:
idtr:
    dw idt_end - idt - 1
    dd idt

msw_value:       dw 0x0003
align 4
cr0_first:       dd 0
msw_first:       dd 0
cr0_guest_owned: dd 0
cr0_after_exit:  dd 0
cr4_first:       dd 0
cr4_last:        dd 0
cr3_last:        dd 0
gp_count:        dd 0
