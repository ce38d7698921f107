; Hyperstep demo guest: a PC boot sector that goes from real mode to 32-bit
; protected mode with paging, talking on the serial port along the way.
;
;   hyperstep run examples/demo/boot.asm
;
; It writes POST codes to port 0x80 as it passes each stage, prints on COM1
; (0x3F8) and on the debug console port 0xE9, then halts with interrupts off.

        bits 16
        org 0x7C00

COM1    equ 0x3F8
LSR     equ COM1 + 5                ; line status register
THRE    equ 0x20                    ; transmitter holding register empty

start:
        cli
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7C00
        cld

        mov al, 0x01                ; POST 01: real mode, stack ready
        out 0x80, al

        mov si, msg_real
        call print16

        lgdt [gdt_desc]
        mov eax, cr0
        or eax, 1                   ; CR0.PE
        mov cr0, eax
        jmp CODE_SEL:pm_entry       ; far jump loads CS from the GDT

; Print the zero-terminated string at DS:SI on COM1, polling the UART.
print16:
.next:  lodsb
        test al, al
        jz .done
        mov ah, al
        mov dx, LSR
.wait:  in al, dx
        test al, THRE
        jz .wait
        mov dx, COM1
        mov al, ah
        out dx, al
        jmp .next
.done:  ret

        bits 32
pm_entry:
        mov ax, DATA_SEL
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x90000

        mov al, 0x02                ; POST 02: protected mode
        out 0x80, al

        mov esi, msg_prot
        call print32

        ; Identity-map the first 4 MiB with one page table, then turn paging on.
        mov edi, PAGE_DIR
        xor eax, eax
        mov ecx, 2048               ; clear the directory and the table
        rep stosd

        mov dword [PAGE_DIR], PAGE_TABLE | 3    ; present, writable
        mov edi, PAGE_TABLE
        mov eax, 3                  ; frame 0, present, writable
        mov ecx, 1024
.map:   stosd
        add eax, 0x1000
        loop .map

        mov eax, PAGE_DIR
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000          ; CR0.PG
        mov cr0, eax

        mov al, 0x03                ; POST 03: paging on
        out 0x80, al

        ; Sum 1..100 the slow way so there is a loop to watch.
        xor eax, eax
        mov ecx, 100
.sum:   add eax, ecx
        loop .sum
        mov [result], eax

        mov esi, msg_paging
        call print32

        ; Also say hello on the Bochs/QEMU debug console port.
        mov esi, msg_e9
.e9:    lodsb
        test al, al
        jz .halt
        out 0xE9, al
        jmp .e9

.halt:  mov al, 0xFF                ; POST FF: done
        out 0x80, al
        cli
        hlt

print32:
.next:  lodsb
        test al, al
        jz .done
        mov ah, al
        mov dx, LSR
.wait:  in al, dx
        test al, THRE
        jz .wait
        mov dx, COM1
        mov al, ah
        out dx, al
        jmp .next
.done:  ret

msg_real:   db "Hyperstep demo: booted in real mode", 13, 10, 0
msg_prot:   db "Switched to 32-bit protected mode", 13, 10, 0
msg_paging: db "Paging on; sum 1..100 computed", 13, 10, 0
msg_e9:     db "hello from port 0xE9", 10, 0

        align 8
gdt:    dq 0                        ; null descriptor
        dq 0x00CF9A000000FFFF       ; 0x08: code, base 0, limit 4 GiB, 32-bit
        dq 0x00CF92000000FFFF       ; 0x10: data, base 0, limit 4 GiB
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd gdt

CODE_SEL    equ 0x08
DATA_SEL    equ 0x10
PAGE_DIR    equ 0x10000
PAGE_TABLE  equ 0x11000
result      equ 0x12000

        times 510 - ($ - $$) db 0
        dw 0xAA55
