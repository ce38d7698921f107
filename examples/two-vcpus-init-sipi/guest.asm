; The boot processor starts the second vCPU the way firmware and kernels do on
; a PC: an INIT IPI, then a start-up IPI (SIPI) through its local APIC's
; interrupt command register (ICR). The SIPI vector 8 makes the application
; processor start in real mode at 0800:0000, i.e. at 0x8000, where this image
; has a 16-bit trampoline. The AP prints a line to port 0xE9, sets a flag and
; halts; the BSP waits for the flag and shuts down.

%define APIC_ICR_LOW   0xFEE00300
%define APIC_ICR_HIGH  0xFEE00310
%define ICR_INIT       0x00004500       ; delivery mode 5 (INIT), level assert
%define ICR_STARTUP    0x00004600       ; delivery mode 6 (start-up), vector in bits 7:0
%define TRAMPOLINE     0x8000
%define HC_SHUTDOWN    3

        bits 32
        org 0x1000

start:  mov dword [APIC_ICR_HIGH], 1 << 24              ; destination: APIC ID 1
        mov dword [APIC_ICR_LOW], ICR_INIT
        mov dword [APIC_ICR_HIGH], 1 << 24
        mov dword [APIC_ICR_LOW], ICR_STARTUP | (TRAMPOLINE >> 12)
.wait:  pause
        cmp byte [ap_done], 0
        je .wait
        mov eax, HC_SHUTDOWN
        xor ebx, ebx
        vmcall

ap_done: db 0
message: db 'AP up', 10, 0

        times TRAMPOLINE - 0x1000 - ($ - $$) db 0

; The application processor: real mode, CS = 0x0800, IP = 0, DS = 0.
        bits 16
trampoline:
        mov si, message
.next:  lodsb
        test al, al
        jz .done
        out 0xE9, al
        jmp .next
.done:  mov byte [ap_done], 1
        cli
        hlt
