// The virtio console's interrupt path end to end on the bare machine with the
// PC platform: used buffers -> ISR bit 0 -> IRQ 5 (level, through ELCR) at
// the master PIC -> vector 0x25 in the guest, whose handler reads ISR
// (dropping the line) and sends EOI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../../src/x86/asm/index';
import { Machine } from '../../../src/x86/machine';
import { PcPlatform, runWithPlatform } from '../../../src/vmm/devices/platform';
import { PIC_INIT } from '../vtx/guest';

const ORG = 0x10000;

const GUEST = `
bits 32
org ${ORG}
VIRTIO equ 0xc000
QUEUE  equ 0x20000
AVAIL  equ QUEUE + 64*16            ; queue size 64
USED   equ QUEUE + 0x1000
start:
    mov eax, virtio_irq
    mov [idt + 0x25*8], ax
    mov word [idt + 0x25*8 + 2], 0x08
    mov word [idt + 0x25*8 + 4], 0x8e00
    shr eax, 16
    mov [idt + 0x25*8 + 6], ax
    lidt [idtr]

${PIC_INIT(0xffdf)}    mov dx, 0x4d0                   ; IRQ 5 level-triggered, as for a PCI INTx line
    mov al, 0x20
    out dx, al

    mov dx, VIRTIO + 0x12
    mov al, 0
    out dx, al
    mov al, 3
    out dx, al
    mov dx, VIRTIO + 0x0e
    mov ax, 1
    out dx, ax
    mov dx, VIRTIO + 0x08
    mov eax, QUEUE >> 12
    out dx, eax
    mov dx, VIRTIO + 0x12
    mov al, 7
    out dx, al

    mov dword [QUEUE], msg1
    mov dword [QUEUE + 8], msg1_len
    mov dword [QUEUE + 16], msg2
    mov dword [QUEUE + 16 + 8], msg2_len

    ; Round 1: interrupts wanted. Notify with IF clear, then wait in HLT.
    mov word [AVAIL + 4], 0
    mov word [AVAIL + 2], 1
    mov dx, VIRTIO + 0x10
    mov ax, 1
    out dx, ax
    sti
.wait:
    hlt
    cmp dword [irqs], 1
    jb .wait

    ; Round 2: VRING_AVAIL_F_NO_INTERRUPT, so poll the used ring instead.
    mov word [AVAIL], 1
    mov word [AVAIL + 6], 1
    mov word [AVAIL + 2], 2
    mov dx, VIRTIO + 0x10
    mov ax, 1
    out dx, ax
.poll:
    cmp word [USED + 2], 2
    jne .poll
    mov ecx, 1000                   ; time for a stray interrupt to show up
.idle:
    loop .idle
    cli

    mov dx, 0x501
    mov al, [irqs]
    out dx, al
    hlt

virtio_irq:
    push eax
    push edx
    mov dx, VIRTIO + 0x13           ; reading ISR acknowledges and lowers the line
    in al, dx
    mov [isr_seen], al
    inc dword [irqs]
    mov al, 0x20
    out 0x20, al
    pop edx
    pop eax
    iret

irqs:     dd 0
isr_seen: db 0
msg1: db "interrupt", 10
msg1_len equ $ - msg1
msg2: db "polled", 10
msg2_len equ $ - msg2
idtr:
    dw 0x30*8 - 1
    dd idt
align 8
idt: times 0x30*8 db 0
`;

test('virtio interrupt: IRQ 5 reaches the guest handler once; NO_INTERRUPT rounds raise none', () => {
  const r = assemble(GUEST, { fileName: 'virtio-irq.asm' });
  assert.ok(r.ok, r.diagnostics.map((d) => d.message).join('\n'));
  const machine = new Machine({ memorySize: 4 * 1024 * 1024 });
  machine.loadFlat32(r.bytes, ORG);
  const out: number[] = [];
  const platform = new PcPlatform({ virtioConsole: { memory: machine.memory, onOutput: (b) => out.push(...b) } });
  platform.attach(machine.io);
  const stop = runWithPlatform(machine, platform, 1_000_000, 100);
  assert.equal(stop.reason, 'shutdown', stop.message);
  assert.equal(String.fromCharCode(...out), 'interrupt\npolled\n');
  assert.equal(platform.debugExit.value, 1, 'the handler ran exactly once');
  assert.equal(machine.memory.read8(r.symbols.get('isr_seen') as number), 1, 'ISR bit 0: used buffers');
  const v = platform.virtio;
  assert.ok(v !== null);
  assert.equal(v.stats.interrupts, 1);
  assert.equal(v.stats.suppressedInterrupts, 1);
  assert.equal(v.stats.notifications, 2);
  assert.equal(v.state.isr, 0);
  assert.equal(v.state.irqHigh, false);
  assert.deepEqual(platform.pic.registers(), { irr: 0, isr: 0, imr: 0xffdf });
  assert.deepEqual(v.messages, []);
});
