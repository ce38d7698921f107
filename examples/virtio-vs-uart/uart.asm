; Prints the message through the 16550 UART on COM1, the way a polling
; early-console driver does: program 115200 8N1, then for every byte wait
; until the transmit holding register is empty (LSR bit 5) and write it.
; Every IN and OUT is an I/O exit.
;
; Flat 32-bit protected mode, loaded at 0x1000; ends with the shutdown
; hypercall (EAX = 3, EBX = exit code).

bits 32
org 0x1000

COM1        equ 0x3f8
UART_THR    equ COM1 + 0        ; transmit holding register (DLAB = 0)
UART_DLL    equ COM1 + 0        ; divisor latch, low byte (DLAB = 1)
UART_DLM    equ COM1 + 1        ; divisor latch, high byte (DLAB = 1)
UART_LCR    equ COM1 + 3
UART_LSR    equ COM1 + 5
LCR_DLAB    equ 0x80
LCR_8N1     equ 0x03
LSR_THRE    equ 0x20

start:
    mov dx, UART_LCR            ; divisor 1 = 115200 baud
    mov al, LCR_DLAB
    out dx, al
    mov dx, UART_DLL
    mov al, 1
    out dx, al
    mov dx, UART_DLM
    xor al, al
    out dx, al
    mov dx, UART_LCR            ; 8 data bits, no parity, 1 stop bit, DLAB off
    mov al, LCR_8N1
    out dx, al

    mov esi, message
    mov ecx, message_len
next_byte:
    mov dx, UART_LSR
.wait_thre:
    in al, dx
    test al, LSR_THRE
    jz .wait_thre
    mov dx, UART_THR
    lodsb
    out dx, al
    loop next_byte

    mov eax, 3                  ; shutdown hypercall, exit code 0
    mov ebx, 0
    vmcall

%include "message.inc"
