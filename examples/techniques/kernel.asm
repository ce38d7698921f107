; A small 32-bit kernel, written for bare hardware and not modified for any
; hypervisor. It is the guest of the "four virtualization techniques"
; comparison (README.md in this folder): the same bytes run on the bare
; machine, under trap-and-emulate, under binary translation and under VT-x.
; kernel-pv.asm is the same kernel rewritten for paravirtualization.
;
; What it does, in order:
;   1. its own GDT (kernel and user segments, a TSS) and IDT;
;   2. paging: one page table that maps the first 4 MiB onto themselves;
;   3. the PIC and a 1 kHz timer; console output on the COM1 serial port;
;   4. interrupts on, then critical sections that save and restore the
;      interrupt state with PUSHFD / CLI / POPFD;
;   5. a HLT loop until the third timer tick;
;   6. a user task in ring 3 that prints through int 0x80 system calls and
;      is preempted by the timer while it computes a checksum;
;   7. a summary line, then power off through the debug-exit port.
;
; The loader enters at the first byte (org) in flat 32-bit protected mode:
; CS = 0x08, the data segments 0x10 on its own GDT, paging off, interrupts off.
;   hyperstep run examples/techniques/kernel.asm --mode flat32 --org 0x10000

bits 32
org 0x10000

%include "defs.inc"

; Selectors of our own GDT (below). The user ones, 0x1B and 0x23, are in defs.inc.
KCODE       equ 0x08
KDATA       equ 0x10
TSS_SEL     equ 0x28

; IDT gate types (the byte after the selector's zero byte)
GATE_INTR   equ 0x8E            ; present, DPL 0, 32-bit interrupt gate: IF cleared on entry
GATE_TRAP3  equ 0xEF            ; present, DPL 3, 32-bit trap gate: IF kept, int n allowed from ring 3

CR0_PG      equ 0x80000000
COM1        equ 0x3F8           ; transmit holding register (THR)
COM1_LSR    equ 0x3FD           ; line status register
LSR_THRE    equ 0x20            ; THR empty: the UART can take another byte
DEBUG_EXIT  equ 0x501           ; a write ends the run with status (value << 1) | 1

; Our own variables (the shared ones are in defs.inc)
TSS         equ KERNEL_VARS_OWN         ; 104 bytes
TSS_ESP0    equ 4
TSS_SS0     equ 8
TSS_IOMAP   equ 102
IDT         equ KERNEL_VARS + 0x200     ; gates up to int 0x80

start:
    mov esp, KSTACK_TOP
    ; The variables' page starts out as zeros, like a C program's .bss.
    mov edi, KERNEL_VARS
    xor eax, eax
    mov ecx, 1024
    rep stosd

    ; ---- 1. Segments -------------------------------------------------------
    ; The loader's GDT is somewhere we do not own and has no user segments:
    ; install ours.
    lgdt [gdt_ptr]
    ; A segment register keeps its old descriptor until it is reloaded.
    ; CS can only be reloaded by a far jump.
    jmp KCODE:.reload
.reload:
    mov ax, KDATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    ; The TSS is where the CPU finds the kernel stack when an interrupt or
    ; system call arrives in ring 3 (SS0:ESP0). An I/O bitmap offset beyond
    ; its limit means no bitmap: IN and OUT fault in ring 3.
    mov dword [TSS + TSS_SS0], KDATA
    mov word [TSS + TSS_IOMAP], 104
    mov ax, TSS_SEL
    ltr ax

    ; ---- Interrupt descriptor table ---------------------------------------
    ; The gates are listed in `traps` (vector, type, selector, handler) and
    ; turned into the CPU's split format here.
    mov esi, traps
.gate:
    mov eax, [esi + 4]          ; handler; 0 ends the list
    test eax, eax
    jz .gates_done
    movzx edi, byte [esi]
    lea edi, [IDT + edi*8]
    mov [edi], ax               ; offset 15:0
    mov bx, [esi + 2]
    mov [edi + 2], bx           ; code selector
    mov byte [edi + 4], 0
    mov bl, [esi + 1]
    mov [edi + 5], bl           ; type and DPL
    shr eax, 16
    mov [edi + 6], ax           ; offset 31:16
    add esi, 8
    jmp .gate
.gates_done:
    lidt [idt_ptr]

    ; ---- 2. Paging ---------------------------------------------------------
    ; One directory entry covers 4 MiB; the other 1023 must be empty.
    mov edi, PAGE_DIR
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov edi, PAGE_TABLE
    xor esi, esi
.pte:
    call pte_for
    stosd
    inc esi
    cmp esi, 1024
    jb .pte
    ; The CPU checks user access at both levels: the directory entry lets
    ; ring 3 through, and each table entry decides for its page.
    mov dword [PAGE_DIR], PAGE_TABLE | PTE_P | PTE_RW | PTE_US
    mov eax, PAGE_DIR
    mov cr3, eax
    mov eax, cr0
    or eax, CR0_PG
    mov cr0, eax                ; every address now goes through the tables

    ; ---- 3. PIC and timer --------------------------------------------------
    mov esi, platform_init
.io:
    mov dx, [esi]
    mov al, [esi + 2]
    out dx, al
    add esi, 4
    cmp esi, platform_init_end
    jb .io

    mov esi, msg_setup
    call say

    ; ---- 4. Critical sections ----------------------------------------------
    ; Interrupts on. From here the timer can interrupt between any two
    ; instructions, so data the timer handler also looks at needs care.
    sti
    ; shared_count and shared_copy must change together: the timer handler
    ; counts a "torn" pair if it sees one without the other. PUSHFD saves the
    ; interrupt flag, CLI clears it, POPFD puts back whatever it was; this is
    ; how a kernel nests critical sections without knowing its caller's state.
    mov ecx, CRIT_ROUNDS
.round:
    pushfd
    cli
    mov eax, [shared_count]
    inc eax
    mov [shared_count], eax
    push ecx
    mov ecx, CRIT_WORK
.work:
    loop .work                  ; a tick now has to wait: the pair is half updated
    pop ecx
    mov [shared_copy], eax
    popfd                       ; interrupts on again, because they were on before
    loop .round

    mov esi, msg_crit
    call puts
    mov eax, [shared_count]
    call put_dec
    call newline

    ; ---- 5. Wait for the timer ---------------------------------------------
    ; HLT sleeps until the next interrupt. This only works if the POPFD above
    ; really turned interrupts back on; if it did not, nothing wakes us.
.idle:
    hlt
    cmp dword [ticks], BOOT_TICKS
    jb .idle

    mov esi, msg_tick
    call puts
    mov eax, [ticks]
    call put_dec
    mov esi, msg_enter
    call puts
    call newline

    ; ---- 6. The user task --------------------------------------------------
    ; IRET is the only way down to ring 3: it pops EIP, CS, EFLAGS and, since
    ; the privilege level changes, ESP and SS. IF = 1 in the new EFLAGS, so
    ; the timer keeps running. Everything below ESP is free while the task
    ; runs: its interrupts and system calls start their frames at ESP0.
    mov [kernel_esp], esp
    mov [TSS + TSS_ESP0], esp
    mov ax, UDATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    push UDATA                  ; SS
    push USER_STACK_TOP         ; ESP
    push EFLAGS_USER            ; EFLAGS
    push UCODE                  ; CS
    push user_main              ; EIP
    iret

; The exit system call comes back here, on the kernel stack as it was at the
; IRET above, with EBX = the task's exit status and interrupts on.
user_exited:
    mov ax, KDATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov esi, msg_exited
    call puts
    mov eax, ebx
    call put_dec
    call newline

    ; ---- 7. Finish on a fixed tick, so every run prints the same summary ---
.idle:
    hlt
    cmp dword [ticks], END_TICKS
    jb .idle
    cli
    call print_summary
    xor al, al                  ; 0: exit status 1, this kernel's "all went well"

; AL = the value for the debug-exit port.
power_off:
    mov dx, DEBUG_EXIT
    out dx, al
    cli                         ; a machine without that port stops here instead
.halt:
    hlt
    jmp .halt

; ---- Console: COM1, polled -------------------------------------------------
; ESI = bytes, ECX = count. The UART takes one byte at a time and says in its
; line status register when it can take the next one.
console_write:
    push eax
    push edx
    test ecx, ecx
    jz .done
.next:
    mov dx, COM1_LSR
.busy:
    in al, dx
    test al, LSR_THRE
    jz .busy
    mov dx, COM1
    lodsb
    out dx, al
    loop .next
.done:
    pop edx
    pop eax
    ret

; ---- Interrupt and exception handlers --------------------------------------

; IRQ 0 (interrupt gate: no second tick can interrupt us before the EOI).
; Count the tick, note whether it preempted the user task, check the shared
; pair, and tell the PIC we are done or it will not send IRQ 0 again.
timer:
    push eax
    push ds
    mov ax, KDATA               ; DS may still be the user task's
    mov ds, ax
    inc dword [ticks]
    mov eax, [esp + 12]         ; the interrupted CS: DS, EAX and EIP are below it
    and eax, 3
    cmp eax, 3
    jne .checked_mode
    inc dword [user_ticks]
.checked_mode:
    mov eax, [shared_count]
    cmp eax, [shared_copy]
    je .eoi
    inc dword [torn]
.eoi:
    mov al, PIC_EOI
    out PIC1_CMD, al
    pop ds
    pop eax
    iret

; The PIC answers with IRQ 7 when a request went away before the CPU took it.
; Nothing is in service then, so there must be no EOI.
spurious:
    iret

; int 0x80 from ring 3: EAX = call, EBX and ECX its arguments, the result in
; EAX. A trap gate: a system call may take long (here it waits on the UART)
; and touches nothing the timer handler touches, so interrupts stay on.
syscall:
    pushad
    push ds
    push es
    mov dx, KDATA
    mov ds, dx
    mov es, dx
    inc dword [syscalls]
    cmp eax, SYS_WRITE
    je .write
    cmp eax, SYS_EXIT
    je .exit
    mov eax, -ENOSYS
    jmp .return
.write:
    ; The buffer address comes from ring 3. In ring 0 we could read any
    ; memory through it, so anything outside the user pages is refused.
    mov eax, -EFAULT
    cmp ebx, USER_BASE
    jb .return
    mov edx, ebx
    add edx, ecx
    jc .return
    cmp edx, USER_END
    ja .return
    mov esi, ebx
    mov eax, ecx
    call console_write
.return:
    mov [esp + 8 + 28], eax     ; where PUSHAD saved EAX: POPAD returns the result
    pop es
    pop ds
    popad
    iret
.exit:
    ; Never back to ring 3: drop the task's frames and carry on in the kernel.
    mov esp, [kernel_esp]
    jmp user_exited

; #GP and #PF: the CPU pushed an error code below EIP. Report and stop.
gp_fault:
    mov ax, KDATA
    mov ds, ax
    mov es, ax
    mov esi, msg_gp
    call puts
    mov eax, [esp + 4]
    call put_hex
    jmp fault_end

pf_fault:
    mov ax, KDATA
    mov ds, ax
    mov es, ax
    mov esi, msg_pf
    call puts
    mov eax, [esp + 4]
    call put_hex
    mov esi, msg_cr2
    call puts
    mov eax, cr2                ; the linear address that faulted
    call put_hex
fault_end:
    mov esi, msg_error
    call puts
    mov eax, [esp]
    call put_hex
    call newline
    mov al, 1                   ; 1: exit status 3, a failure
    jmp power_off

%include "kernel-common.inc"

; ---- Descriptor tables -----------------------------------------------------
align 8
gdt:
    dq 0                        ; 0x00: the CPU never uses entry 0
    dq 0x00CF9A000000FFFF       ; 0x08: kernel code, base 0, 4 GiB, DPL 0
    dq 0x00CF92000000FFFF       ; 0x10: kernel data, base 0, 4 GiB, DPL 0
    dq 0x00CFFA000000FFFF       ; 0x18: user code, DPL 3
    dq 0x00CFF2000000FFFF       ; 0x20: user data, DPL 3
    dw 103, TSS & 0xFFFF        ; 0x28: the TSS, limit 103,
    db (TSS >> 16) & 0xFF, 0x89 ;       present, DPL 0, 32-bit TSS (available),
    db 0, TSS >> 24             ;       byte granularity
gdt_end:

gdt_ptr:
    dw gdt_end - gdt - 1
    dd gdt

; vector, gate type, selector, handler. The paravirtualized kernel has the
; same list, which it gives to the hypervisor instead of building an IDT.
traps:
    db VEC_GP, GATE_INTR
    dw KCODE
    dd gp_fault
    db VEC_PF, GATE_INTR
    dw KCODE
    dd pf_fault
    db TIMER_VECTOR, GATE_INTR
    dw KCODE
    dd timer
    db SPURIOUS_VECTOR, GATE_INTR
    dw KCODE
    dd spurious
    db SYSCALL_VECTOR, GATE_TRAP3
    dw KCODE
    dd syscall
    dd 0, 0

; Gates up to int 0x80. An interrupt on a vector without a gate raises #NP
; (#GP beyond the limit); with no gate for that either, the CPU gives up
; through a double fault into a triple fault, and the machine resets.
idt_ptr:
    dw (SYSCALL_VECTOR + 1) * 8 - 1
    dd IDT

%include "user-task.inc"
