// What a debugger needs from the software VMM's run loop: pause requests
// (`requestPause`) taken at the next instruction boundary without ending the
// VM, from a hole or trap listener or before a run; and the engine's
// breakpoints honoured where the VMM, not the engine, leads the guest (after
// a trapped instruction, at a translated callout, at a reflected event's
// handler), with the resume point passed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../../src/x86/asm/index';
import { buildKernel } from '../../examples/techniques-kernels';
import { createSoftVm, type SoftTechnique, type SoftVm, type SoftVmStop } from '../../../src/vmm/soft/index';

const BUDGET = 20_000_000;
const kernel = buildKernel('kernel.asm');

const text = (vm: SoftVm): string => String.fromCharCode(...vm.output);

function guest(source: string): { bytes: Uint8Array; symbols: Map<string, number> } {
  const r = assemble(`bits 32\norg 0x1000\n${source}`, { fileName: 'guest.asm' });
  assert.equal(r.ok, true, r.diagnostics.map((d) => d.message).join('\n'));
  return { bytes: r.bytes, symbols: r.symbols };
}

/** Three rounds of a trapped (or translated) CLI, then power off through the debug-exit port. */
const ROUNDS = guest(`
    mov ecx, 3
  again:
    cli
  after_cli:
    inc eax
    dec ecx
    jnz again
    mov dx, 0x501
    mov al, 0
    out dx, al
    hlt
`);

/** Two software interrupts into a handler the VMM reflects them to. */
const INTS = guest(`
    mov eax, handler
    mov [idt + 0x30*8], ax
    mov word [idt + 0x30*8 + 2], 0x08
    mov word [idt + 0x30*8 + 4], 0x8E00
    shr eax, 16
    mov [idt + 0x30*8 + 6], ax
    lidt [idtr]
    mov esp, 0x80000
    push eax                ; the stack page gets its shadow entry before the IRET callout reads the frame
    pop eax
    mov ecx, 2
  again:
    int 0x30
    dec ecx
    jnz again
    mov dx, 0x501
    mov al, 0
    out dx, al
    hlt
  handler:
    inc ebx
    iret
  idtr:
    dw 0x30*8 + 7
    dd idt
  idt:
    times 0x31*8 db 0
`);

/** Runs to the end, counting the stops at breakpoints; each resumes where it stopped. */
function breakpointStops(technique: SoftTechnique, addresses: number[], program = ROUNDS): { stops: SoftVmStop[]; end: SoftVmStop } {
  const vm = createSoftVm({ technique, image: program.bytes, org: 0x1000 });
  for (const a of addresses) vm.engine.breakpoints.add(a);
  vm.engine.flush();
  const stops: SoftVmStop[] = [];
  for (;;) {
    const s = vm.run(100_000);
    if (s.reason !== 'breakpoint') return { stops, end: s };
    stops.push(s);
    assert.ok(stops.length < 20, 'a breakpoint stops again where the run resumed');
  }
}

test('a pause asked for by a hole listener stops right after the hole instruction; the run then goes on as if unpaused', () => {
  const plain = createSoftVm({ technique: 'trap-and-emulate', image: kernel.bytes, org: 0x10000 });
  const plainStop = plain.run(BUDGET);
  const vm = createSoftVm({ technique: 'trap-and-emulate', image: kernel.bytes, org: 0x10000 });
  let pauses = 0;
  vm.events.on('hole', () => {
    if (pauses < 3) vm.requestPause('hole');
  });
  const stops: SoftVmStop[] = [];
  let total = 0;
  let s: SoftVmStop;
  for (;;) {
    s = vm.run(BUDGET - total);
    total += s.instructions;
    if (s.reason !== 'pause') break;
    pauses++;
    stops.push(s);
    const hole = vm.holes[vm.holes.length - 1];
    assert.equal(s.message, 'hole');
    assert.equal(s.rip, hole.rip + hole.length, 'the stop is at the instruction after the hole');
    assert.equal(vm.pauseRequested, null);
  }
  assert.equal(stops.length, 3);
  assert.equal(vm.holes[0].instruction, 'popf');
  assert.deepEqual({ ...s, instructions: total }, plainStop);
  assert.equal(text(vm), text(plain));
  assert.deepEqual(vm.stats.report(), plain.stats.report());
});

test('a pause asked for by a trap listener stops where the guest resumes after the emulation', () => {
  const vm = createSoftVm({ technique: 'trap-and-emulate', image: ROUNDS.bytes, org: 0x1000 });
  vm.events.on('trap', (t) => {
    if (t.key === '#GP: cli') vm.requestPause(`trap ${t.seq}`);
  });
  const s = vm.run(100_000);
  assert.equal(s.reason, 'pause');
  assert.equal(s.rip, ROUNDS.symbols.get('after_cli'));
  assert.equal(vm.v.interrupts, false);
});

test('a pause asked for outside a run is taken at the start of the next, with no instruction run', () => {
  const vm = createSoftVm({ technique: 'binary-translation', image: ROUNDS.bytes, org: 0x1000 });
  vm.requestPause('before');
  vm.requestPause('again');
  const first = vm.run(100_000);
  assert.deepEqual([first.reason, first.message, first.instructions, first.rip], ['pause', 'before', 0, 0x1000]);
  const end = vm.run(100_000);
  assert.equal(end.reason, 'shutdown', 'one pause per request, however many came before it was taken');
});

for (const technique of ['trap-and-emulate', 'binary-translation'] as const) {
  test(`${technique}: breakpoints after a trapped or translated CLI and on the CLI itself stop every round, and a run resumes past them`, () => {
    const after = ROUNDS.symbols.get('after_cli') ?? -1;
    const at = ROUNDS.symbols.get('again') ?? -1;
    const r = breakpointStops(technique, [after]);
    assert.deepEqual(r.stops.map((s) => s.rip), [after, after, after]);
    assert.equal(r.end.reason, 'shutdown');
    const both = breakpointStops(technique, [at, after]);
    assert.deepEqual(both.stops.map((s) => s.rip), [at, after, at, after, at, after]);
  });

  test(`${technique}: a breakpoint at the handler the VMM reflects a software interrupt to stops at each interrupt`, () => {
    const handler = INTS.symbols.get('handler') ?? -1;
    const r = breakpointStops(technique, [handler], INTS);
    assert.deepEqual(r.stops.map((s) => s.rip), [handler, handler]);
    assert.equal(r.end.reason, 'shutdown');
  });
}

test('binary translation: breakpoints leave the translation statistics and the output as without them', () => {
  const plain = createSoftVm({ technique: 'binary-translation', image: kernel.bytes, org: 0x10000 });
  plain.run(BUDGET);
  const vm = createSoftVm({ technique: 'binary-translation', image: kernel.bytes, org: 0x10000 });
  const popf = [...kernel.symbols.entries()].find(([name]) => name === 'start.round')?.[1];
  assert.ok(popf !== undefined, 'kernel.asm has start.round');
  vm.engine.breakpoints.add(popf);
  vm.engine.flush();
  let hits = 0;
  for (;;) {
    const s = vm.run(BUDGET);
    if (s.reason !== 'breakpoint') break;
    hits++;
  }
  assert.equal(hits, 100, 'the first instruction of each critical section (a PUSHFD callout)');
  assert.equal(text(vm), text(plain));
  assert.deepEqual(vm.stats.report().translation, plain.stats.report().translation);
});
