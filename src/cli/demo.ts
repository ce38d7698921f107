// `hyperstep demo` (what `npm start` runs): boots the demo guest and narrates
// what the machine did — stage by stage, with the console output and the
// final state — then runs a second guest under the VMM and shows its exits.
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Machine } from '../x86/machine';
import { disassemble } from '../x86/disasm/index';
import { loadProgram } from './program';
import { bytesToText, hex, hex4, hex8, registerDump } from './format';
import { createVm, type VmExit } from '../vmm/vtx/index';
import { formatExitStats } from '../vmm/vtx/stats-format';

const DEMO = join('examples', 'demo', 'boot.asm');
const VMM_DEMO = join('examples', 'demo', 'vmm-tour.asm');
/** IA32_SYSENTER_CS: inside the MSR-bitmap range, so it exits only when the demo sets its bits. */
const DEMO_MSR = 0x174;
const STEP_LIMIT = 1_000_000;

function findDemo(file = DEMO): string {
  // dist/cli.js lives one level below the package root; so does src/cli when run from source.
  for (const root of [join(__dirname, '..'), join(__dirname, '..', '..'), process.cwd()]) {
    const p = join(root, file);
    if (existsSync(p)) return p;
  }
  throw new Error(`cannot find ${file}`);
}

export function runDemo(out: (line: string) => void): number {
  const path = findDemo();
  const shown = relative(process.cwd(), path) || path;
  const program = loadProgram(path);
  out(`Hyperstep demo — ${shown}`);
  out(`  assembled ${program.bytes.length} bytes with the built-in NASM-compatible assembler`);
  out(`  loaded as a boot sector at 0x7C00; the CPU starts in real mode at CS:IP = 0000:7C00`);
  out('');
  out('  first instructions:');
  for (const line of disassemble(program.bytes.subarray(0, 24), 16, 0x7c00).slice(0, 6)) {
    const bytes = Array.from(line.bytes, (b) => b.toString(16).toUpperCase().padStart(2, '0')).join('');
    out(`    ${hex4(line.address)}  ${bytes.padEnd(12)}  ${line.text}`);
  }
  out('');
  out('  instr #  what happened');

  const m = new Machine();
  m.loadBootSector(program.bytes);
  let prev = m.state();
  const seen = { com1: 0, e9: 0, post: 0 };
  let pendingText = '';
  const event = (n: number, text: string) => out(`  ${String(n).padStart(7)}  ${text}`);
  let stop;
  for (;;) {
    stop = m.step();
    const n = m.instructionCount;
    const s = m.state();
    if ((s.cr0 & 1) !== (prev.cr0 & 1)) event(n, `CR0.PE ${s.cr0 & 1 ? 'set: protected mode on (CS still holds a real-mode segment)' : 'cleared: back to real mode'}`);
    if (s.cs !== prev.cs && s.mode === 'protected') event(n, `far jump: CS = ${hex4(s.cs)} from the GDT, now running 32-bit code at ${hex8(s.eip)}`);
    if ((s.cr0 >>> 31) !== (prev.cr0 >>> 31)) event(n, `CR0.PG set: paging on, page directory at CR3 = ${hex(s.cr3)}`);
    const post = m.console.post;
    while (seen.post < post.length) event(n, `POST code ${hex(post[seen.post++], 2)} on port 0x80`);
    const com1 = m.console.com1;
    while (seen.com1 < com1.length) {
      const ch = com1[seen.com1++];
      if (ch === 10) {
        event(n, `COM1 printed "${pendingText}"`);
        pendingText = '';
      } else if (ch !== 13) pendingText += String.fromCharCode(ch);
    }
    if (m.console.e9.length > seen.e9 && m.console.e9[m.console.e9.length - 1] === 10) {
      event(n, `port 0xE9 printed "${bytesToText(m.console.e9.slice(seen.e9, -1))}"`);
      seen.e9 = m.console.e9.length;
    }
    prev = s;
    if (stop.reason !== 'limit' && stop.reason !== 'breakpoint') break;
    if (n >= STEP_LIMIT) break;
  }
  event(m.instructionCount, `stopped: ${stop.reason} — ${stop.message}`);
  out('');
  out('  serial console (COM1):');
  for (const line of bytesToText(m.console.com1).split(/\r?\n/).filter((l) => l.length > 0)) out(`    ${line}`);
  out('');
  out(`  final state after ${m.instructionCount.toLocaleString('en-US')} instructions:`);
  for (const line of registerDump(m).split('\n')) out(`    ${line}`);
  const sum = m.memory.read32(0x12000);
  out('');
  out(`  memory[0x12000] = ${sum} (the guest's sum of 1..100)`);
  out('');
  const vmmOk = runVmmTour(out);
  out('');
  out('Try: hyperstep run examples/demo/vmm-tour.asm --trace exits   ·   hyperstep run examples/demo/boot.asm --bare --json');
  return stop.reason === 'hlt' && vmmOk ? 0 : 1;
}

/** The second half of the demo: a guest under the VMM, its first exits with their causes and the statistics. */
function runVmmTour(out: (line: string) => void): boolean {
  const path = findDemo(VMM_DEMO);
  const shown = relative(process.cwd(), path) || path;
  const program = loadProgram(path, { bits: 32 });
  out(`Under the VMM — ${shown}`);
  out(`  flat32 guest at 0x1000 in VMX non-root operation, KVM-like controls; the demo also sets`);
  out(`  the MSR-bitmap bits of ${hex(DEMO_MSR)} (IA32_SYSENTER_CS) so that RDMSR/WRMSR of it exit`);
  const vm = createVm({
    image: program.bytes, mode: 'flat32', org: program.origin ?? 0x1000,
    configure: (v) => {
      v.msrBitmap.set(DEMO_MSR, false, true);
      v.msrBitmap.set(DEMO_MSR, true, true);
    },
  });
  const exits: VmExit[] = [];
  vm.events.on('exit', (e) => exits.push(e));
  const stop = vm.run(STEP_LIMIT);
  out('');
  out('  guest output:');
  for (const line of bytesToText(vm.output).split('\n').filter((l) => l.length > 0)) out(`    ${line}`);
  out('');
  out(`  the first exit of each kind (${exits.length} exits in all):`);
  const seen = new Set<number>();
  for (const e of exits) {
    if (seen.has(e.reason)) continue;
    seen.add(e.reason);
    const summary = e.summary ? ` ${e.summary}` : '';
    out(`    #${e.sequence} ${e.name} at ${hex8(e.rip)}${summary}`);
    out(`        why: ${e.why}`);
  }
  out('');
  for (const line of formatExitStats(vm.stats.report(), { drillDowns: false })) out(line === '' ? '' : `  ${line}`);
  out('');
  const code = stop.code !== undefined ? ` (code ${stop.code})` : '';
  out(`  stopped: ${stop.reason}${code} after ${stop.instructions.toLocaleString('en-US')} guest instructions — ${stop.message}`);
  return stop.reason === 'shutdown' && (stop.code ?? 0) === 0;
}
