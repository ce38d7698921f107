; The kernel of kernel.asm, paravirtualized: modified to run in ring 1 under
; a hypervisor and to ask it, through hypercalls, for everything the original
; does with a privileged instruction. Read the two side by side: the steps,
; the shared code (kernel-common.inc), the user task (user-task.inc, the very
; same bytes at the same address) and the console output are the same.
;
;   kernel.asm                       here
;   LGDT, far jump, LTR              nothing: we start on the hypervisor's segments
;   LIDT                             SET_TRAP_TABLE
;   TSS.ESP0                         STACK_SWITCH
;   page tables + MOV CR3, CR0.PG    MMU_UPDATE, SET_PAGING
;   OUT to the PIC and PIT           IO_WRITE
;   STI; PUSHFD / CLI / POPFD        IRQ_RESTORE; IRQ_DISABLE / IRQ_RESTORE
;   HLT                              BLOCK
;   OUT to the UART, one byte each   CONSOLE_WRITE, one line each
;   IRET                             the IRET hypercall
;   MOV from CR2                     FAULT_ADDRESS
;   OUT to the debug-exit port       SHUTDOWN
;
; Not one privileged instruction is left: in ring 1 each would fault, and
; nothing here relies on the hypervisor emulating one. The hypercall ABI is
; the one in docs/techniques.md ("Paravirtualization: the hypercall ABI").
;
; The hypervisor enters at the first byte (org) in ring 1 with CS = 0x09,
; DS = ES = FS = GS = SS = 0x11, paging off and virtual interrupts off.

bits 32
org 0x10000

%include "defs.inc"

; The hypervisor's ring-1 segments (as Xen's FLAT_RING1_*). The user ones,
; 0x1B and 0x23, have the same numbers as in kernel.asm.
KCODE       equ 0x09
KDATA       equ 0x11

; A hypercall: int 0x82, number in EAX, arguments in EBX, ECX, EDX, ESI,
; result in EAX.
HYPERCALL           equ 0x82
HC_CONSOLE_WRITE    equ 0       ; EBX = address, ECX = length
HC_SET_TRAP_TABLE   equ 1       ; EBX = the trap table
HC_MMU_UPDATE       equ 2       ; EBX = (entry address, value) pairs, ECX = count
HC_SET_PAGING       equ 3       ; EBX = page directory, 0 = paging off
HC_STACK_SWITCH     equ 4       ; EBX = SS, ECX = ESP for entering the kernel from ring 3
HC_IRET             equ 5       ; the stack holds EAX, then EIP, CS, EFLAGS (and ESP, SS)
HC_IRQ_DISABLE      equ 6       ; returns the previous state
HC_IRQ_RESTORE      equ 7       ; EBX = 1 enable, 0 disable
HC_BLOCK            equ 8       ; enable interrupts and wait for one
HC_IO_WRITE         equ 10      ; EBX = port, ECX = value, EDX = size
HC_SHUTDOWN         equ 12      ; EBX = exit code
HC_FAULT_ADDRESS    equ 14      ; the address of the last page fault

; Trap-table flags: bits 1:0 the DPL for int n, bit 2 interrupts masked on entry.
TRAP_INTR   equ 4               ; as an interrupt gate, DPL 0
TRAP_TRAP3  equ 3               ; as a trap gate, DPL 3

MMU_BATCH   equ 256             ; page-table writes per MMU_UPDATE
MMU_BUF     equ 0x22000         ; where they are queued: MMU_BATCH (address, value) pairs
mmu_count   equ KERNEL_VARS_OWN ; pairs queued

start:
    mov esp, KSTACK_TOP
    ; The variables' page starts out as zeros, like a C program's .bss.
    mov edi, KERNEL_VARS
    xor eax, eax
    mov ecx, 1024
    rep stosd

    ; ---- 1. Traps --------------------------------------------------------
    ; The real IDT belongs to the hypervisor: it takes every interrupt and
    ; exception first and delivers ours to the handlers listed here.
    mov ebx, traps
    mov eax, HC_SET_TRAP_TABLE
    int HYPERCALL

    ; ---- 2. Paging -------------------------------------------------------
    ; The hypervisor must see every change to our page tables, so it can
    ; check it (no mapping of memory that is not ours) and update the shadow
    ; tables the CPU really walks. So no entry is written directly: each goes
    ; through MMU_UPDATE, the table first, then the directory.
    xor esi, esi
.pte:
    call pte_for
    mov edx, eax
    lea eax, [PAGE_TABLE + esi*4]
    call mmu_queue
    inc esi
    cmp esi, 1024
    jb .pte
    xor esi, esi
.pde:
    xor edx, edx                ; one directory entry covers 4 MiB; the others stay empty
    test esi, esi
    jnz .pde_queue
    mov edx, PAGE_TABLE | PTE_P | PTE_RW | PTE_US
.pde_queue:
    lea eax, [PAGE_DIR + esi*4]
    call mmu_queue
    inc esi
    cmp esi, 1024
    jb .pde
    call mmu_flush
    mov ebx, PAGE_DIR
    mov eax, HC_SET_PAGING
    int HYPERCALL

    ; ---- 3. PIC and timer --------------------------------------------------
    ; The same writes as kernel.asm's OUTs; the hypervisor decides what they
    ; reach (its virtual PIC and PIT).
    mov esi, platform_init
.io:
    movzx ebx, word [esi]
    movzx ecx, byte [esi + 2]
    mov edx, 1
    mov eax, HC_IO_WRITE
    int HYPERCALL
    add esi, 4
    cmp esi, platform_init_end
    jb .io

    mov esi, msg_setup
    call say

    ; ---- 4. Critical sections ----------------------------------------------
    ; The interrupt flag we control is a virtual one, kept by the hypervisor;
    ; the real IF stays on. Turning it on is a hypercall (kernel.asm: STI).
    mov ebx, 1
    mov eax, HC_IRQ_RESTORE
    int HYPERCALL
    ; IRQ_DISABLE returns the previous state: what PUSHFD saved in kernel.asm.
    ; IRQ_RESTORE puts it back: POPFD. A POPFD in ring 1 would leave the
    ; virtual flag alone without any fault, and interrupts would stay off.
    mov ecx, CRIT_ROUNDS
.round:
    mov eax, HC_IRQ_DISABLE
    int HYPERCALL
    push eax
    mov eax, [shared_count]
    inc eax
    mov [shared_count], eax
    push ecx
    mov ecx, CRIT_WORK
.work:
    loop .work                  ; a tick now has to wait: the pair is half updated
    pop ecx
    mov [shared_copy], eax
    pop ebx
    mov eax, HC_IRQ_RESTORE
    int HYPERCALL
    loop .round

    mov esi, msg_crit
    call puts
    mov eax, [shared_count]
    call put_dec
    call newline

    ; ---- 5. Wait for the timer ---------------------------------------------
    ; BLOCK gives the CPU back to the hypervisor until our next interrupt
    ; (kernel.asm: HLT).
.idle:
    mov eax, HC_BLOCK
    int HYPERCALL
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
    ; STACK_SWITCH replaces the TSS's ESP0: where the hypervisor puts the
    ; frame of an event that arrives while ring 3 runs. The IRET hypercall
    ; takes the frame of the IRET instruction with one more word on top: the
    ; EAX to return with (EAX itself carries the hypercall number).
    mov [kernel_esp], esp
    mov ebx, KDATA
    mov ecx, esp
    mov eax, HC_STACK_SWITCH
    int HYPERCALL
    mov ax, UDATA
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    push UDATA                  ; SS
    push USER_STACK_TOP         ; ESP
    push EFLAGS_USER            ; EFLAGS: IF = 1 turns virtual interrupts on
    push UCODE                  ; CS
    push user_main              ; EIP
    push 0                      ; EAX the task starts with
    mov eax, HC_IRET
    int HYPERCALL

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
    mov eax, HC_BLOCK
    int HYPERCALL
    cmp dword [ticks], END_TICKS
    jb .idle
    mov eax, HC_IRQ_DISABLE
    int HYPERCALL
    call print_summary
    xor ebx, ebx                ; exit code 0: all went well

; EBX = the exit code.
power_off:
    mov eax, HC_SHUTDOWN
    int HYPERCALL

; ---- Console ---------------------------------------------------------------
; ESI = bytes, ECX = count: the whole line in one hypercall.
console_write:
    push eax
    push ebx
    mov ebx, esi
    mov eax, HC_CONSOLE_WRITE
    int HYPERCALL
    pop ebx
    pop eax
    ret

; ---- Page-table writes, batched: one hypercall per MMU_BATCH entries --------
; mmu_queue: EAX = the entry's guest-physical address, EDX = its new value.
mmu_queue:
    push edi
    mov edi, [mmu_count]
    mov [MMU_BUF + edi*8], eax
    mov [MMU_BUF + edi*8 + 4], edx
    inc edi
    mov [mmu_count], edi
    pop edi
    cmp dword [mmu_count], MMU_BATCH
    jb .queued
    call mmu_flush
.queued:
    ret

mmu_flush:
    push eax
    push ebx
    push ecx
    mov ecx, [mmu_count]
    test ecx, ecx
    jz .done
    mov ebx, MMU_BUF
    mov eax, HC_MMU_UPDATE
    int HYPERCALL
    cmp eax, ecx                ; the number of entries done: all of them, or a refusal
    jne .refused
    mov dword [mmu_count], 0
.done:
    pop ecx
    pop ebx
    pop eax
    ret
.refused:
    mov esi, msg_mmu
    call say
    mov ebx, 1
    jmp power_off

; ---- Event handlers --------------------------------------------------------
; The hypervisor delivers events with the frame the CPU would have pushed,
; and handlers leave through the IRET hypercall: a native IRET in ring 1
; would not restore the virtual interrupt flag.
;
; The IRET hypercall needs EAX for its number, so a handler leaves the EAX
; to return with on top of the frame (as Xen's i386 HYPERVISOR_iret does).

; IRQ 0 (masked on entry, as an interrupt gate).
timer:
    push eax                    ; given back by the IRET hypercall
    push ebx
    push ecx
    push edx
    push ds
    mov ax, KDATA               ; DS may still be the user task's
    mov ds, ax
    inc dword [ticks]
    mov eax, [esp + 24]         ; the interrupted CS: DS, EDX, ECX, EBX, EAX and EIP are below it
    and eax, 3
    cmp eax, 3                  ; RPL 3: user; our own CS has RPL 1
    jne .checked_mode
    inc dword [user_ticks]
.checked_mode:
    mov eax, [shared_count]
    cmp eax, [shared_copy]
    je .eoi
    inc dword [torn]
.eoi:
    mov ebx, PIC1_CMD
    mov ecx, PIC_EOI
    mov edx, 1
    mov eax, HC_IO_WRITE
    int HYPERCALL
    pop ds
    pop edx
    pop ecx
    pop ebx
    mov eax, HC_IRET
    int HYPERCALL

; Spurious IRQ 7: nothing is in service, so no EOI.
spurious:
    push eax
    mov eax, HC_IRET
    int HYPERCALL

; int 0x80 from ring 3 (not masked, as a trap gate: see kernel.asm).
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
    jmp .return                 ; unknown call (kernel.asm returns -ENOSYS)
.write:
    ; The buffer address comes from ring 3: only the user pages are accepted.
    cmp ebx, USER_BASE
    jb .return
    mov edx, ebx
    add edx, ecx
    jc .return
    cmp edx, USER_END
    ja .return
    mov esi, ebx
    call console_write
.return:
    pop es
    pop ds
    popad
    push eax                    ; the task's EAX comes back through the IRET hypercall
    mov eax, HC_IRET
    int HYPERCALL
.exit:
    mov esp, [kernel_esp]
    jmp user_exited

; #GP and #PF: an error code below EIP. Report and stop.
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
    mov eax, HC_FAULT_ADDRESS   ; CR2 cannot be read in ring 1
    int HYPERCALL
    call put_hex
fault_end:
    mov esi, msg_error
    call puts
    mov eax, [esp]
    call put_hex
    call newline
    mov ebx, 1                  ; exit code 1: a failure
    jmp power_off

%include "kernel-common.inc"

msg_mmu:    db "kernel: MMU_UPDATE refused a page-table entry", 0

; vector, flags, code selector, handler; a handler of 0 ends the table.
; kernel.asm has the same list and builds its IDT from it.
align 8
traps:
    db VEC_GP, TRAP_INTR
    dw KCODE
    dd gp_fault
    db VEC_PF, TRAP_INTR
    dw KCODE
    dd pf_fault
    db TIMER_VECTOR, TRAP_INTR
    dw KCODE
    dd timer
    db SPURIOUS_VECTOR, TRAP_INTR
    dw KCODE
    dd spurious
    db SYSCALL_VECTOR, TRAP_TRAP3
    dw KCODE
    dd syscall
    dd 0, 0

%include "user-task.inc"
