import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../../src/x86/asm/index';
import { Machine } from '../../../src/x86/machine';
import { PcPlatform, runWithPlatform } from '../../../src/vmm/devices/platform';
import { ClockDivider } from '../../../src/vmm/devices/clock';
import { DebugExit } from '../../../src/vmm/devices/debugexit';
import { IoBus } from '../../../src/x86/devices/iobus';
import { PIT_HZ } from '../../../src/vmm/devices/pit';
import { PIC_INIT } from '../vtx/guest';

const ORG = 0x10000;

/** A flat 32-bit guest: PIC and PIT set up as Linux does, 10 timer interrupts counted by an IDT handler, a message on COM1, then the debug-exit port. */
const GUEST = `
bits 32
org ${ORG}
start:
    mov eax, timer
    mov [idt + 0x20*8], ax
    mov word [idt + 0x20*8 + 2], 0x08
    mov word [idt + 0x20*8 + 4], 0x8e00
    shr eax, 16
    mov [idt + 0x20*8 + 6], ax
    lidt [idtr]

${PIC_INIT(0xfffe)}
    mov al, 0x34            ; channel 0, LSB/MSB, mode 2
    out 0x43, al
    mov al, 1193 & 0xff
    out 0x40, al
    mov al, 1193 >> 8
    out 0x40, al

    mov dx, 0x3fb           ; 115200 8N1
    mov al, 0x80
    out dx, al
    mov dx, 0x3f8
    mov al, 1
    out dx, al
    inc dx
    xor al, al
    out dx, al
    mov dx, 0x3fb
    mov al, 3
    out dx, al

    sti
wait_tick:
    hlt
    cmp dword [ticks], 10
    jb wait_tick
    cli

    mov esi, msg
next_char:
    mov bl, [esi]
    test bl, bl
    jz done
    mov dx, 0x3fd
wait_thre:
    in al, dx
    test al, 0x20
    jz wait_thre
    mov dx, 0x3f8
    mov al, bl
    out dx, al
    inc esi
    jmp next_char
done:
    mov dx, 0x501
    mov al, 0x21
    out dx, al
    hlt

timer:
    push eax
    inc dword [ticks]
    mov al, 0x20
    out 0x20, al
    pop eax
    iret

ticks: dd 0
msg: db "10 ticks", 10, 0
idtr:
    dw 256*8 - 1
    dd idt
align 8
idt: times 256*8 db 0
`;

function boot(): { machine: Machine; platform: PcPlatform; out: number[]; ticksAddr: number } {
  const r = assemble(GUEST, { fileName: 'timer.asm', org: ORG });
  assert.ok(r.ok, r.diagnostics.map((d) => d.message).join('\n'));
  const machine = new Machine({ memorySize: 4 * 1024 * 1024 });
  machine.loadFlat32(r.bytes, ORG);
  const out: number[] = [];
  const platform = new PcPlatform({ instructionsPerSecond: 10_000_000, onSerialOutput: (b) => out.push(b) });
  platform.attach(machine.io);
  return { machine, platform, out, ticksAddr: r.symbols.get('ticks') as number };
}

const readDword = (m: Machine, a: number): number =>
  (m.memory.read8(a) | (m.memory.read8(a + 1) << 8) | (m.memory.read8(a + 2) << 16) | (m.memory.read8(a + 3) << 24)) >>> 0;

test('platform: a guest programs PIC and PIT, counts 10 timer interrupts, prints on COM1, exits via 0x501', () => {
  const { machine, platform, out, ticksAddr } = boot();
  const stop = runWithPlatform(machine, platform, 2_000_000, 500);
  assert.equal(stop.reason, 'shutdown', stop.message);
  assert.equal(String.fromCharCode(...out), '10 ticks\n');
  assert.deepEqual(machine.console.com1, [], 'COM1 belongs to the 16550 now');
  assert.equal(readDword(machine, ticksAddr), 10);
  assert.equal(platform.debugExit.value, 0x21);
  assert.equal(platform.debugExit.exitCode, 0x43);
  assert.equal(platform.pit.channel(0).count, 1193);
  assert.equal(platform.pit.channel(0).mode, 2);
  assert.deepEqual(platform.pic.registers(), { irr: platform.pic.registers().irr & 1, isr: 0, imr: 0xfffe });
  assert.equal(platform.pic.master.s.vectorBase, 0x20);
  // 10 periods of 1193 PIT ticks at 10 M instructions/s: the guest ran at least that long.
  assert.ok(platform.pit.now >= 10 * 1193);
  assert.ok(platform.pit.irq0Edges >= 10);
});

test('platform: snapshot of machine and devices mid-run continues identically', () => {
  const a = boot();
  runWithPlatform(a.machine, a.platform, 40_000, 500);
  const ticksBefore = readDword(a.machine, a.ticksAddr);
  assert.ok(ticksBefore > 0 && ticksBefore < 10, `mid-run (${ticksBefore} ticks)`);
  const machineSnap = a.machine.snapshot();
  const deviceSnap = JSON.parse(JSON.stringify(a.platform.snapshot())) as ReturnType<PcPlatform['snapshot']>;
  const first = runWithPlatform(a.machine, a.platform, 2_000_000, 500);

  const b = boot();
  b.machine.restore(machineSnap);
  b.platform.restore(deviceSnap);
  const second = runWithPlatform(b.machine, b.platform, 2_000_000, 500);
  assert.deepEqual(second, first);
  assert.deepEqual(b.out, a.out);
  assert.equal(b.platform.pit.now, a.platform.pit.now);
});

test('clock: remainders carry so many small steps equal one large step', () => {
  const c = new ClockDivider(PIT_HZ, 100_000_000);
  let sum = 0;
  for (let i = 0; i < 1000; i++) sum += c.ticksFor(1000);
  assert.equal(sum, 11931, '1 M instructions at 100 MIPS = 10 ms = 11931.82 PIT ticks');
  assert.equal(new ClockDivider(PIT_HZ, 100_000_000).ticksFor(1_000_000), 11931);
  assert.equal(new ClockDivider(PIT_HZ, 1_000_000).ticksFor(3_000_000_000), 3 * PIT_HZ * 1000);
  assert.throws(() => new ClockDivider(PIT_HZ, 0));
});

test('debug exit: records the value, reports (value << 1) | 1, honours a configured port', () => {
  const bus = new IoBus();
  const d = new DebugExit(0xf4, 4);
  const codes: number[] = [];
  d.onExit = (c) => codes.push(c);
  d.attach(bus);
  assert.equal(d.exited, false);
  assert.equal(d.exitCode, null);
  bus.out(0xf4, 4, 0x12345678);
  assert.equal(d.value, 0x12345678);
  assert.deepEqual(codes, [0x2468acf1]);
  const snap = d.snapshot();
  const e = new DebugExit(0xf4, 4);
  e.restore(snap);
  assert.equal(e.exitCode, 0x2468acf1);
  const byte = new DebugExit();
  byte.attach(bus);
  bus.out(0x501, 2, 0x1ff);
  assert.equal(byte.value, 0xff, 'a one-byte port keeps the low byte');
  assert.equal(byte.exitCode, 0x1ff);
});

/** A guest that echoes serial input upper-cased from its IRQ 4 handler until it receives '.'. */
const ECHO = `
bits 32
org ${ORG}
    mov eax, serial
    mov [idt + 0x24*8], ax
    mov word [idt + 0x24*8 + 2], 0x08
    mov word [idt + 0x24*8 + 4], 0x8e00
    shr eax, 16
    mov [idt + 0x24*8 + 6], ax
    lidt [idtr]
    mov al, 0x11
    out 0x20, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x01
    out 0x21, al
    mov al, 0xef            ; only IRQ 4
    out 0x21, al
    mov dx, 0x3f9
    mov al, 0x01            ; received-data interrupt
    out dx, al
    mov dx, 0x3fc
    mov al, 0x0b            ; DTR, RTS, OUT2 (connects the IRQ)
    out dx, al
    sti
idle:
    hlt
    cmp byte [finished], 0
    je idle
    mov dx, 0x501
    mov al, 0
    out dx, al

serial:
    push eax
    push edx
    mov dx, 0x3fd
more:
    in al, dx
    test al, 1
    jz drained
    mov dx, 0x3f8
    in al, dx
    cmp al, '.'
    jne echo
    mov byte [finished], 1
echo:
    cmp al, 'a'
    jb send
    cmp al, 'z'
    ja send
    sub al, 0x20
send:
    out dx, al
    mov dx, 0x3fd
    jmp more
drained:
    mov al, 0x20
    out 0x20, al
    pop edx
    pop eax
    iret

finished: db 0
idtr:
    dw 256*8 - 1
    dd idt
align 8
idt: times 256*8 db 0
`;

test('platform: serial input raises IRQ 4 through the PIC into a guest handler that echoes it', () => {
  const r = assemble(ECHO, { fileName: 'echo.asm', org: ORG });
  assert.ok(r.ok, r.diagnostics.map((d) => d.message).join('\n'));
  const machine = new Machine({ memorySize: 4 * 1024 * 1024 });
  machine.loadFlat32(r.bytes, ORG);
  const out: number[] = [];
  const platform = new PcPlatform({ onSerialOutput: (b) => out.push(b) });
  platform.attach(machine.io);
  let stop = runWithPlatform(machine, platform, 10_000, 200);
  assert.equal(stop.reason, 'hlt', 'budget used up while waiting in hlt for input');
  assert.deepEqual(out, []);
  platform.uart.receive([...'hi, vm'].map((c) => c.charCodeAt(0)));
  stop = runWithPlatform(machine, platform, 10_000, 200);
  assert.equal(String.fromCharCode(...out), 'HI, VM');
  assert.equal(platform.pic.registers().isr, 0, 'the handler sent its EOI');
  platform.uart.receive([...'ok.'].map((c) => c.charCodeAt(0)));
  stop = runWithPlatform(machine, platform, 10_000, 200);
  assert.equal(stop.reason, 'shutdown');
  assert.equal(stop.eip, r.symbols.get('serial'), 'nothing runs after the OUT to the exit port');
  assert.equal(String.fromCharCode(...out), 'HI, VMOK.');
  assert.equal(platform.debugExit.exitCode, 1);
});

test('platform: the timer guest gives the same run with the block translator off', () => {
  const a = boot();
  const withJit = runWithPlatform(a.machine, a.platform, 2_000_000, 500);
  const b = boot();
  b.machine.engine.jitEnabled = false;
  const without = runWithPlatform(b.machine, b.platform, 2_000_000, 500);
  assert.deepEqual(without, withJit);
  assert.equal(b.platform.pit.now, a.platform.pit.now);
  assert.deepEqual(b.out, a.out);
});
