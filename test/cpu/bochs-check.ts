// Runs the flat 32-bit conformance programs on Bochs and on the emulated CPU
// and compares what they leave behind (the exception log and the result
// slots), as an independent check of the expectations in the *.test.ts files.
// A developer tool, not part of any suite (CI does not install Bochs):
//
//   npx tsx test/cpu/bochs-check.ts [program...]
//
// Needs nasm and bochs (Debian: bochs, bochsbios, vgabios, bochs-sdl). Both
// sides run the same binary, assembled with -DBOCHS_DUMP so that it prints
// the log and the results in hex to port 0xE9 before it stops (see STOP in
// pm-common.inc); Bochs boots it from a floppy through bochs-loader.asm.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Machine } from '../../src/x86/machine';
import { fixturesDir } from './flags-golden';
import { ORG } from './guest-programs';

const LOG_DWORDS = 16 + 64 * 32;
const RESULT_DWORDS = 128;

/** Values that legitimately differ between two correct machines. */
const ignoredSlots: Record<string, number[]> = {
  instructions: [96, 97, 98, 99, 100, 101, 102, 103, 104], // cpuid, rdtsc
  privilege: [6, 36], // smsw: CR0.CD/NW as the firmware left them
};
/** Slots compared under a mask: LAR leaves bits 19:16 undefined ("00FxFF00H"). */
const maskedSlots: Record<string, Record<number, number>> = {
  instructions: { 75: 0x00f0ff00 },
};

function assemble(work: string, name: string, defines: string[]): Uint8Array {
  const out = join(work, `${name}.bin`);
  execFileSync('nasm', ['-f', 'bin', '-i', fixturesDir + '/', ...defines.map((d) => `-D${d}`), '-o', out, join(fixturesDir, `${name}.asm`)]);
  return new Uint8Array(readFileSync(out));
}

/** The dwords between the two "@" lines of a dump. */
function parseDump(text: string): number[] {
  const m = /@\n([0-9a-f\n]*)@\n/.exec(text);
  if (!m) throw new Error(`no dump in output:\n${text.slice(-2000)}`);
  return m[1].trim().split('\n').map((h) => parseInt(h, 16) >>> 0);
}

/** Boot-sector programs boot as they are; flat ones through bochs-loader.asm. */
const bootPrograms = ['real-mode'];

function runBochs(work: string, name: string, program: Uint8Array): number[] {
  const image = new Uint8Array(1474560);
  if (bootPrograms.includes(name)) {
    image.set(program, 0);
  } else {
    const sectors = Math.ceil(program.length / 512);
    image.set(assemble(work, 'bochs-loader', [`SECTORS=${sectors}`]), 0);
    image.set(program, 512);
  }
  const img = join(work, `${name}.img`);
  writeFileSync(img, image);
  const rc = join(work, `${name}.rc`);
  writeFileSync(rc, [
    'megs: 32',
    'romimage: file=/usr/share/bochs/BIOS-bochs-latest',
    'vgaromimage: file=/usr/share/vgabios/vgabios.bin',
    `floppya: 1_44=${img}, status=inserted`,
    'boot: floppy',
    'port_e9_hack: enabled=1',
    'display_library: sdl2',
    `log: ${join(work, `${name}.log`)}`,
    'cpu: model=corei7_sandy_bridge_2600k, ignore_bad_msrs=0',
    'speaker: enabled=0',
    'sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy',
    '',
  ].join('\n'));
  const cmds = join(work, 'cmds');
  writeFileSync(cmds, 'c\nquit\n');
  const r = spawnSync('bochs', ['-q', '-rc', cmds, '-f', rc], {
    env: { ...process.env, SDL_VIDEODRIVER: 'dummy' },
    timeout: 120_000,
    maxBuffer: 1 << 26,
  });
  return parseDump(r.stdout.toString());
}

function runOurs(name: string, program: Uint8Array): number[] {
  const m = new Machine({ memorySize: 32 << 20 });
  if (bootPrograms.includes(name)) m.loadBootSector(program);
  else m.loadFlat32(program, ORG);
  m.run(5_000_000);
  return parseDump(String.fromCharCode(...m.console.e9));
}

const hex = (v: number): string => `0x${v.toString(16)}`;
const fields = ['vector', 'error', 'eip', 'cs', 'eflags', 'expected eip', 'cr2', 'frame', 'esp', 'ss', 'eax', 'id', 'dr6', 'handler ds', 'v86 es', 'v86 ds', 'v86 fs', 'v86 gs', 'ecx', 'esi', 'edi', 'handler eflags'];

function compare(name: string, bochs: number[], ours: number[]): string[] {
  const diffs: string[] = [];
  const count = bochs[0];
  if (ours[0] !== count) {
    // Entries no longer line up: show both logs as (TRY id, vector, EIP).
    const summary = (d: number[]): string => Array.from({ length: Math.min(d[0], 64) }, (_, e) => {
      const at = 16 + e * 32;
      return `${d[at + 11]}:${hex(d[at])}@${hex(d[at + 2])}`;
    }).join(' ');
    diffs.push(`log count: bochs ${count}, ours ${ours[0]}`, `bochs log: ${summary(bochs)}`, `ours log:  ${summary(ours)}`);
  }
  for (let e = 0; e < (ours[0] === count ? Math.min(count, 64) : 0); e++) {
    const v86 = (bochs[16 + e * 32 + 4] & 0x20000) !== 0;
    for (let f = 0; f < fields.length; f++) {
      if (f >= 14 && f <= 17 && !v86) continue; // segment slots of a virtual-8086 frame only
      const at = 16 + e * 32 + f;
      if (bochs[at] !== ours[at]) diffs.push(`log ${e} ${fields[f]}: bochs ${hex(bochs[at])}, ours ${hex(ours[at])}`);
    }
  }
  const ignored = ignoredSlots[name] ?? [];
  for (let s = 0; s < RESULT_DWORDS; s++) {
    if (ignored.includes(s)) continue;
    const at = LOG_DWORDS + s;
    const mask = maskedSlots[name]?.[s] ?? 0xffffffff;
    if (((bochs[at] ^ ours[at]) & mask) !== 0) diffs.push(`result ${s}: bochs ${hex(bochs[at])}, ours ${hex(ours[at])}`);
  }
  return diffs;
}

/** real-mode.asm dumps its results and log area as plain dwords from 0x600. */
function compareRaw(bochs: number[], ours: number[]): string[] {
  const diffs: string[] = [];
  const logCount = (bochs[(0x7f0 - 0x600) / 4] ?? 0) & 0xffff;
  const end = (0x800 - 0x600) / 4 + logCount * 4; // past the logged entries: leftovers
  if (bochs.length !== ours.length) diffs.push(`dump length: bochs ${bochs.length}, ours ${ours.length}`);
  for (let i = 0; i < Math.min(end, bochs.length); i++) {
    if (bochs[i] !== ours[i]) diffs.push(`${hex(0x600 + 4 * i)}: bochs ${hex(bochs[i])}, ours ${hex(ours[i])}`);
  }
  return diffs;
}

const names = process.argv.slice(2);
const programs = names.length ? names : ['instructions', 'exceptions', 'privilege', 'paging', 'system', 'real-mode', 'v86', 'restart'];
const work = mkdtempSync(join(tmpdir(), 'hyperstep-bochs-'));
let failed = 0;
try {
  for (const name of programs) {
    const program = assemble(work, name, ['BOCHS_DUMP']);
    const bochs = runBochs(work, name, program);
    const ours = runOurs(name, program);
    const diffs = bootPrograms.includes(name) ? compareRaw(bochs, ours) : compare(name, bochs, ours);
    console.log(`${name}: ${diffs.length === 0 ? 'same as Bochs' : `${diffs.length} differences`}`);
    for (const d of diffs) console.log(`  ${d}`);
    if (diffs.length) failed++;
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
