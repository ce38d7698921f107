; Prints the message through the virtio console at I/O base 0xC000 (legacy
; virtio PCI register block; the device is at a fixed base, so there is no
; PCI probing). The driver side of a split virtqueue, reduced to polling:
;
;   reset, ACKNOWLEDGE, DRIVER; read the device features, accept F_SIZE;
;   select the transmitq, read its size, lay the ring out in guest memory
;   and write its page frame number; DRIVER_OK.
;   batch 1: lines 1-3 as three one-descriptor buffers, one notify;
;   batch 2: lines 4-6 as one chain of three descriptors, one notify;
;   after each notify, poll the used ring (plain memory, no exits) until the
;   device has returned the buffers. VRING_AVAIL_F_NO_INTERRUPT is set, so
;   the device raises no interrupt.
;
; Section numbers are from the virtio 1.1 specification. Flat 32-bit
; protected mode, loaded at 0x1000; ends with the shutdown hypercall
; (EBX = 0 on success, 1 if the device is unusable, 2 if it reports an error).

bits 32
org 0x1000

VIRTIO_BASE             equ 0xc000      ; legacy register block (4.1.4.8)
VIRTIO_DEVICE_FEATURES  equ VIRTIO_BASE + 0x00
VIRTIO_GUEST_FEATURES   equ VIRTIO_BASE + 0x04
VIRTIO_QUEUE_PFN        equ VIRTIO_BASE + 0x08
VIRTIO_QUEUE_SIZE       equ VIRTIO_BASE + 0x0c
VIRTIO_QUEUE_SELECT     equ VIRTIO_BASE + 0x0e
VIRTIO_QUEUE_NOTIFY     equ VIRTIO_BASE + 0x10
VIRTIO_STATUS           equ VIRTIO_BASE + 0x12

STATUS_ACKNOWLEDGE      equ 0x01        ; device status bits (2.1)
STATUS_DRIVER           equ 0x02
STATUS_DRIVER_OK        equ 0x04
STATUS_NEEDS_RESET      equ 0x40
STATUS_FAILED           equ 0x80
CONSOLE_F_SIZE          equ 0x01        ; console features (5.3.3)
TRANSMITQ               equ 1           ; console queues (5.3.2)
VRING_DESC_F_NEXT       equ 1           ; descriptor flags (2.6.5)
VRING_AVAIL_F_NO_INTERRUPT equ 1        ; (2.6.7)

QUEUE                   equ 0x10000     ; the transmitq ring, page aligned (2.6.2)
MIN_QUEUE_SIZE          equ 8           ; this driver uses descriptors 0-5
POLL_LIMIT              equ 100000      ; give up on a device that never answers

; Descriptor %1 (2.6.5): addr (u64) %2, len %3, flags %4, next %5.
%macro set_desc 5
    mov dword [QUEUE + %1*16], %2
    mov dword [QUEUE + %1*16 + 4], 0
    mov dword [QUEUE + %1*16 + 8], %3
    mov word [QUEUE + %1*16 + 12], %4
    mov word [QUEUE + %1*16 + 14], %5
%endmacro

start:
    ; Initialisation, legacy order (3.1.2): reset, ACKNOWLEDGE, DRIVER, features, queues, DRIVER_OK.
    mov dx, VIRTIO_STATUS
    xor al, al
    out dx, al
    mov al, STATUS_ACKNOWLEDGE
    out dx, al
    mov al, STATUS_ACKNOWLEDGE | STATUS_DRIVER
    out dx, al

    mov dx, VIRTIO_DEVICE_FEATURES
    in eax, dx
    and eax, CONSOLE_F_SIZE
    mov dx, VIRTIO_GUEST_FEATURES
    out dx, eax

    mov dx, VIRTIO_QUEUE_SELECT
    mov ax, TRANSMITQ
    out dx, ax
    mov dx, VIRTIO_QUEUE_SIZE
    in ax, dx
    movzx ecx, ax
    cmp ecx, MIN_QUEUE_SIZE
    jb fail

    ; Legacy layout (2.6.2): descriptors, the available ring right after
    ; them, the used ring at the next 4 KiB boundary.
    mov eax, ecx
    shl eax, 4
    add eax, QUEUE
    mov [avail], eax
    lea eax, [eax + ecx*2 + 6 + 4095]
    and eax, ~4095
    mov [used], eax
    lea eax, [eax + ecx*8 + 6]
    mov edi, QUEUE                  ; zero the whole ring
    sub eax, edi
    add eax, 3
    shr eax, 2
    mov ecx, eax
    xor eax, eax
    rep stosd

    mov dx, VIRTIO_QUEUE_PFN
    mov eax, QUEUE >> 12
    out dx, eax
    mov dx, VIRTIO_STATUS
    mov al, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK
    out dx, al

    mov ebx, [avail]
    mov word [ebx], VRING_AVAIL_F_NO_INTERRUPT  ; this driver polls

    ; Batch 1: three buffers, heads 0, 1, 2 in available slots 0-2.
    set_desc 0, line1, line1_len, 0, 0
    set_desc 1, line2, line2_len, 0, 0
    set_desc 2, line3, line3_len, 0, 0
    mov word [ebx + 4], 0
    mov word [ebx + 6], 1
    mov word [ebx + 8], 2
    ; x86 keeps stores in order, so the ring entries are visible before idx.
    mov word [ebx + 2], 3
    mov dx, VIRTIO_QUEUE_NOTIFY
    mov ax, TRANSMITQ
    out dx, ax
    mov eax, 3
    call wait_used

    ; Batch 2: one chain 3 -> 4 -> 5 in available slot 3.
    set_desc 3, line4, line4_len, VRING_DESC_F_NEXT, 4
    set_desc 4, line5, line5_len, VRING_DESC_F_NEXT, 5
    set_desc 5, line6, line6_len, 0, 0
    mov word [ebx + 10], 3
    mov word [ebx + 2], 4
    mov dx, VIRTIO_QUEUE_NOTIFY
    mov ax, TRANSMITQ
    out dx, ax
    mov eax, 4
    call wait_used

    mov esi, [used]                 ; the last used element names head 3 (2.6.8)
    cmp dword [esi + 4 + 3*8], 3
    jne fail

    mov dx, VIRTIO_STATUS           ; did the device object to anything?
    in al, dx
    test al, STATUS_NEEDS_RESET | STATUS_FAILED
    jnz device_error

    mov eax, 3                      ; shutdown hypercall, exit code 0
    mov ebx, 0
    vmcall

; Spins on used.idx (memory, so no exits) until it equals AX.
wait_used:
    mov esi, [used]
    mov ecx, POLL_LIMIT
.poll:
    cmp [esi + 2], ax
    je .done
    loop .poll
    jmp device_error
.done:
    ret

device_error:
    mov eax, 3
    mov ebx, 2
    vmcall

fail:
    mov dx, VIRTIO_STATUS
    mov al, STATUS_FAILED
    out dx, al
    mov eax, 3
    mov ebx, 1
    vmcall

avail:  dd 0
used:   dd 0

%include "message.inc"
