; A timer interrupt under the VMM: the guest sets up an IDT, remaps the PIC,
; programs PIT channel 0 at 1 kHz, and counts ticks in a HLT loop. Every tick
; is a virtual interrupt the VMM injects through VM_ENTRY_INTR_INFO_FIELD.
; One tick arrives while interrupts are off (CLI ... STI): the VMM cannot
; inject it then, arms interrupt-window exiting, and injects at exit 7.
; Flat 32-bit protected mode at 0x1000 (the default VM, no vm.json).

bits 32
org 0x1000

TICKS    equ 5
IDT      equ 0x3000
PIT_HZ   equ 1193182
DIVISOR  equ PIT_HZ / 1000          ; 1193: one IRQ 0 every millisecond

start:
    mov esp, 0x8000

    ; --- IDT: vector 0x20 (IRQ 0 after the remap) -> timer, 0x27 -> spurious
    mov eax, timer
    mov edi, IDT + 0x20 * 8
    call set_gate
    mov eax, spurious
    mov edi, IDT + 0x27 * 8
    call set_gate
    lidt [idtr]

    ; --- PIC: ICW1-ICW4, master at 0x20, slave at 0x28, only IRQ 0 unmasked
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xa1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xa1, al
    mov al, 1
    out 0x21, al
    out 0xa1, al
    mov al, 0xfe
    out 0x21, al
    mov al, 0xff
    out 0xa1, al

    ; --- PIT channel 0: mode 2 (rate generator), lobyte/hibyte
    mov al, 0x34
    out 0x43, al
    mov al, DIVISOR & 0xff
    out 0x40, al
    mov al, DIVISOR >> 8
    out 0x40, al

    ; --- a CLI ... STI window longer than one tick: the tick has to wait
    cli
    mov ecx, 60000
spin:
    dec ecx
    jnz spin
    sti
    nop                             ; STI blocking covers this instruction; exit 7 comes after it

    ; --- idle until TICKS timer interrupts have been counted
wait:
    hlt
    cmp dword [ticks], TICKS
    jb wait
    cli

    ; --- report on COM1 (the UART) and shut down with the tick count
    mov esi, message
    mov dx, 0x3f8
print:
    lodsb
    test al, al
    jz done
    out dx, al
    jmp print
done:
    mov eax, 3                      ; hypercall 3: shutdown, code in EBX
    mov ebx, [ticks]
    vmcall

; EAX = handler, EDI = gate address: a 32-bit interrupt gate in the flat code segment
set_gate:
    mov [edi], ax
    mov word [edi + 2], 0x08
    mov word [edi + 4], 0x8e00
    shr eax, 16
    mov [edi + 6], ax
    ret

timer:
    inc dword [ticks]
    push eax
    mov al, 0x20                    ; non-specific EOI to the master PIC
    out 0x20, al
    pop eax
    iret

spurious:
    iret

idtr:
    dw 256 * 8 - 1
    dd IDT
ticks:
    dd 0
message:
    db "5 timer ticks", 10, 0
