// An emulated instruction that meets a page the shadow tables do not map yet
// (IRET popping its frame from a fresh stack page, a translated callout or a
// trapped #GP): the VMM fills the entry and emulates again; a fault on the
// guest's own tables reaches the guest with its CR2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../../src/x86/asm/index';
import { createSoftVm, type SoftTechnique } from '../../../src/vmm/soft/index';

function build(source: string): Uint8Array {
  const r = assemble(`bits 32\norg 0x10000\n${source}`, { fileName: 'guest.asm' });
  assert.deepEqual(r.diagnostics.map((d) => `${d.line}: ${d.message}`), []);
  return r.bytes;
}

const GATE = (vector: number, handler: string): string => `
  mov eax, ${handler}
  mov [idt + ${vector}*8], ax
  mov word [idt + ${vector}*8 + 2], 0x08
  mov word [idt + ${vector}*8 + 4], 0x8E00
  shr eax, 16
  mov [idt + ${vector}*8 + 6], ax`;

/** int 0x40 with ESP just moved to a page nothing has touched: the handler's IRET pops from it. */
const FRESH_STACK = build(`${GATE(0x40, 'handler')}
  lidt [idtr]
  mov esp, 0x90000
  int 0x40
  mov al, 'K'
  mov dx, 0x3f8
  out dx, al
  mov al, 0
  mov dx, 0x501
  out dx, al
  hlt
handler:
  iret
idtr: dw 0x41*8-1
  dd idt
align 8
idt: times 0x41*8 db 0
`);

for (const technique of ['trap-and-emulate', 'binary-translation'] as SoftTechnique[]) {
  test(`${technique}: an IRET whose frame sits on a page not yet shadowed fills it and returns`, () => {
    const vm = createSoftVm({ technique, image: FRESH_STACK, org: 0x10000 });
    const stop = vm.run(10_000);
    assert.equal(stop.reason, 'shutdown', stop.message);
    assert.equal(String.fromCharCode(...vm.output), 'K');
    const kinds = vm.stats.report().byKind.map((k) => k.key);
    assert.ok(!kinds.some((k) => k.endsWith(': reflected')), `nothing reflected to the guest: ${kinds.join(', ')}`);
  });
}

test('binary translation: a fault on the guest\'s own tables inside a callout reaches the guest with CR2', () => {
  // Paging on with only the first 4 MiB mapped; LIDT from an unmapped address faults in the guest.
  const vm = createSoftVm({ technique: 'binary-translation', image: build(`${GATE(14, 'pf')}
  lidt [idtr]
  mov edi, 0x20000
  xor eax, eax
  mov ecx, 2048
  rep stosd
  mov edi, 0x21000
  mov eax, 3
  mov ecx, 1024
.map:
  stosd
  add eax, 0x1000
  loop .map
  mov dword [0x20000], 0x21003
  mov eax, 0x20000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  lidt [0x800000]
  hlt
pf:
  mov eax, cr2
  mov [0x5000], eax
  pop ebx
  mov [0x5004], ebx
  mov al, 0
  mov dx, 0x501
  out dx, al
  hlt
idtr: dw 15*8-1
  dd idt
align 8
idt: times 15*8 db 0
`), org: 0x10000 });
  const stop = vm.run(100_000);
  assert.equal(stop.reason, 'shutdown', stop.message);
  assert.equal(vm.cpu.mem.read32(0x5000) >>> 0, 0x800000, 'CR2 is the guest\'s faulting address');
  assert.equal(vm.cpu.mem.read32(0x5004) >>> 0, 0, 'error code: not present, read, supervisor');
});
