; A short tour of VM exits, run by `hyperstep demo` under the VMM
; (flat 32-bit protected mode at 0x1000). Each step provokes one kind of exit:
;   CPUID (always exits), the hypervisor leaf 0x40000000 whose EBX/ECX/EDX
;   spell "Hyperstep", OUT to the 0xE9 debug port (I/O bitmap), RDMSR/WRMSR of
;   IA32_SYSENTER_CS (0x174: exits when the demo sets its MSR-bitmap bits;
;   under plain `hyperstep run` it does not), the console-write hypercall and
;   the shutdown hypercall.
;
;   hyperstep run examples/demo/vmm-tour.asm --trace exits

bits 32
org 0x1000

start:
  xor eax, eax
  cpuid                         ; leaf 0: vendor string (exit 10)
  mov eax, 0x40000000
  cpuid                         ; hypervisor leaf: "Hyperstep" in EBX, ECX, EDX
  mov [sig], ebx
  mov [sig + 4], ecx
  mov [sig + 8], edx

  mov esi, hello                ; one OUT per byte, each an I/O exit (exit 30)
  mov dx, 0xe9
.out:
  lodsb
  test al, al
  jz .msr
  out dx, al
  jmp .out

.msr:
  mov ecx, 0x174                ; IA32_SYSENTER_CS
  rdmsr                         ; exit 31 when the read bitmap bit is set
  mov eax, 0x08
  xor edx, edx
  wrmsr                         ; exit 32 when the write bitmap bit is set

  mov edi, sig                  ; the signature is NUL-padded to 12 bytes: end the line after it
.find:
  cmp byte [edi], 0
  je .eol
  inc edi
  cmp edi, sig + 12
  jne .find
.eol:
  mov byte [edi], 10
  lea ecx, [edi + 1]
  sub ecx, banner
  mov eax, 0                    ; hypercall 0: console write of "hypervisor: Hyperstep\n"
  mov ebx, banner
  vmcall                        ; exit 18

  mov eax, 3                    ; hypercall 3: shut down with code 0
  mov ebx, 0
  vmcall

hello:  db "hello from the guest via port 0xE9", 10, 0
banner: db "hypervisor: "
sig:    times 13 db 0
