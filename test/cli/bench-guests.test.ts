// The VMM benchmark guests (bench/cpuid-loop.asm, bench/page-touch.asm) do
// what the benchmark reports assume: one exit per CPUID, one TLB miss per
// page touched; checked on small iteration counts, without timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assemble } from '../../src/x86/asm/index';
import { Machine } from '../../src/x86/machine';
import { createVm, type VmOptions } from '../../src/vmm/vtx/index';

function build(file: string, defines: Record<string, number>): Uint8Array {
  let source = readFileSync(`bench/${file}`, 'utf8');
  for (const [k, v] of Object.entries(defines)) source = source.replace(new RegExp(`^%define ${k} \\d+`, 'm'), `%define ${k} ${v}`);
  const r = assemble(source, { fileName: file });
  assert.ok(r.ok, r.diagnostics.map((d) => d.message).join('\n'));
  return r.bytes;
}

test('cpuid-loop: N CPUIDs are N exits and a HLT under the VMM; no exits on the bare machine', () => {
  const image = build('cpuid-loop.asm', { ITERATIONS: 250 });
  const vm = createVm({ image });
  const stop = vm.run(100_000);
  assert.equal(stop.reason, 'hlt');
  assert.deepEqual(vm.stats.report().reasons.map((r) => [r.name, r.count]), [['CPUID', 250], ['HLT', 1]]);
  assert.equal(vm.stats.cycles, 250 * 1300 + 1500);
  const bare = new Machine();
  bare.loadFlat32(image, 0x1000);
  const s = bare.run(100_000);
  assert.equal(s.reason, 'hlt');
  assert.equal(s.instructions, 1 + 250 * 4 + 2, 'mov, the loop, cli, hlt');
});

test('page-touch: the same guest result under EPT and shadow paging; shadow paging takes a #PF exit per page filled', () => {
  const pages = 16;
  const rounds = 3;
  const image = build('page-touch.asm', { PAGES: pages, ROUNDS: rounds });
  const run = (paging: 'ept' | 'shadow') => {
    const options: VmOptions & { paging?: 'ept' | 'shadow' } = { image, paging };
    const vm = createVm(options);
    const stop = vm.run(1_000_000);
    assert.equal(stop.reason, 'hlt', `${paging}: ${stop.message}`);
    const counts = Object.fromEntries(vm.stats.report().reasons.map((r) => [r.name, r.count]));
    // The last page written holds 1 (ECX counts down to 1) in every round.
    return { counts, last: vm.machine.memory.read32(0x800000 + (pages - 1) * 0x1000), first: vm.machine.memory.read32(0x800000) };
  };
  const ept = run('ept');
  assert.deepEqual([ept.first, ept.last], [pages, 1]);
  assert.equal(ept.counts.EXCEPTION_NMI, undefined, 'no page-fault exits under EPT');
  const shadow = run('shadow');
  assert.deepEqual([shadow.first, shadow.last], [pages, 1]);
  assert.ok((shadow.counts.EXCEPTION_NMI ?? 0) >= pages, `shadow: ${JSON.stringify(shadow.counts)}`);
  assert.equal(shadow.counts.INVLPG, rounds);
});
