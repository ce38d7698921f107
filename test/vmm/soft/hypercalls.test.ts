// The paravirtual hypercall ABI (docs/techniques.md, "Paravirtualization: the
// hypercall ABI") call by call: results and error returns, the virtual
// interrupt state, port I/O through the device model, page-table updates the
// VMM checks, the trap table and the IRET hypercall, shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../../src/x86/asm/index';
import { createSoftVm, PV_HYPERCALLS, type SoftVm } from '../../../src/vmm/soft/index';

const ORG = 0x10000;
const RESULTS = 0x5000;
const nr = (name: string): number => {
  const i = (PV_HYPERCALLS as readonly string[]).indexOf(name);
  assert.ok(i >= 0, name);
  return i;
};

/** Runs `body` as a PV kernel; `save N` stores EAX at RESULTS + 4N. Ends with SHUTDOWN 7. */
function run(body: string): { vm: SoftVm; results: (i: number) => number } {
  const source = `bits 32
org ${ORG}
%macro hc 1
  mov eax, %1
  int 0x82
%endmacro
%macro save 1
  mov [${RESULTS} + %1*4], eax
%endmacro
  mov esp, 0x80000
${body}
  mov ebx, 7
  hc ${nr('SHUTDOWN')}
  hlt
`;
  const r = assemble(source, { fileName: 'pv.asm' });
  assert.deepEqual(r.diagnostics.map((d) => `${d.line}: ${d.message}`), []);
  const vm = createSoftVm({ technique: 'paravirt', image: r.bytes, org: ORG });
  const stop = vm.run(100_000);
  assert.equal(stop.reason, 'shutdown', stop.message);
  assert.equal(stop.code, 7);
  return { vm, results: (i) => vm.cpu.mem.read32(RESULTS + i * 4) | 0 };
}

test('CONSOLE_WRITE returns the bytes written; too long or unreadable is -22; an unknown call is -38', () => {
  const { vm, results } = run(`
  mov ebx, msg
  mov ecx, 3
  hc ${nr('CONSOLE_WRITE')}
  save 0
  mov ecx, 4097
  hc ${nr('CONSOLE_WRITE')}
  save 1
  mov ebx, 0xF0000000
  mov ecx, 4
  hc ${nr('CONSOLE_WRITE')}
  save 2
  hc 99
  save 3
  jmp done
msg: db 'hi', 10
done:`);
  assert.equal(String.fromCharCode(...vm.output), 'hi\n');
  assert.deepEqual([0, 1, 2, 3].map(results), [3, -22, -22, -38]);
  assert.deepEqual(vm.stats.report().hypercalls.map((h) => [h.key, h.count]).sort(), [['#99', 1], ['CONSOLE_WRITE', 3], ['SHUTDOWN', 1]]);
});

test('IRQ_DISABLE returns the previous virtual interrupt state; IRQ_RESTORE sets it', () => {
  const { vm, results } = run(`
  hc ${nr('IRQ_DISABLE')}
  save 0
  mov ebx, 1
  hc ${nr('IRQ_RESTORE')}
  save 1
  hc ${nr('IRQ_DISABLE')}
  save 2
  hc ${nr('IRQ_DISABLE')}
  save 3`);
  // The kernel starts with virtual interrupts off.
  assert.deepEqual([0, 1, 2, 3].map(results), [0, 0, 1, 0]);
  assert.equal(vm.v.interrupts, false);
});

test('IO_WRITE and IO_READ reach the device model; a size other than 1, 2 or 4 is -22', () => {
  const { vm, results } = run(`
  mov ebx, 0x3f8
  mov ecx, 'P'
  mov edx, 1
  hc ${nr('IO_WRITE')}
  save 0
  mov edx, 3
  hc ${nr('IO_WRITE')}
  save 1
  mov ebx, 0x3fd
  mov edx, 1
  hc ${nr('IO_READ')}
  save 2`);
  assert.equal(String.fromCharCode(...vm.output), 'P');
  assert.equal(results(0), 0);
  assert.equal(results(1), -22);
  assert.equal(results(2) & 0x20, 0x20, 'the UART line status says the transmitter is empty');
  const io = vm.stats.report().byKind.find((k) => k.key === 'hypercall: IO_WRITE');
  assert.equal(io?.cycles, 2 * (800 + 250 + 700), 'each I/O hypercall pays the device model');
});

test('MMU_UPDATE writes checked entries and stops at the first bad one; SET_PAGING wants an aligned directory in RAM', () => {
  const { vm, results } = run(`
  mov ebx, updates
  mov ecx, 3
  hc ${nr('MMU_UPDATE')}
  save 0
  mov ebx, 0x20010
  hc ${nr('SET_PAGING')}
  save 1
  jmp done
updates:
  dd 0x21000, 0x00300003   ; fine: maps guest RAM
  dd 0x21004, 0xF0000003   ; maps beyond guest RAM: refused
  dd 0x21008, 0x00302003   ; never reached
done:`);
  assert.equal(results(0), 1);
  assert.equal(vm.cpu.mem.read32(0x21000) >>> 0, 0x00300003);
  assert.equal(vm.cpu.mem.read32(0x21004) >>> 0, 0);
  assert.equal(vm.cpu.mem.read32(0x21008) >>> 0, 0);
  assert.equal(results(1), -22);
});

test('SET_TRAP_TABLE and the IRET hypercall: int 0x40 reaches the registered handler, which returns with the EAX it pushed', () => {
  const { vm, results } = run(`
  mov ebx, table
  hc ${nr('SET_TRAP_TABLE')}
  save 0
  mov eax, 0x1111
  int 0x40
  save 1
  jmp done
handler:
  mov dword [${RESULTS} + 8], 0xAAAA
  push dword 0x2222          ; the EAX to return with
  hc ${nr('IRET')}
table:
  db 0x40, 1                 ; vector 0x40, DPL 1
  dw 0x09
  dd handler
  dd 0, 0
done:`);
  assert.equal(results(0), 0);
  assert.equal(results(2), 0xaaaa, 'the handler ran');
  assert.equal(results(1), 0x2222, 'EAX comes from the stack');
  assert.deepEqual(vm.pv?.trapTable(), [{ vector: 0x40, cs: 0x09, offset: vm.pv?.trapTable()[0].offset, dpl: 1, masksEvents: false }]);
  assert.equal(vm.cpu.r[4] >>> 0, 0x80000, 'the frame and the pushed EAX are gone');
});
