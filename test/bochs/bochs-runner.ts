// Builds harness images with the real nasm and runs them on Bochs
// (headless: SDL's dummy video driver, "c" typed at the debugger prompt).
// Used by regen-goldens.ts and the live oracle; the normal test needs
// neither tool.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { casesInclude, type TestCase } from './generator';
import { patchImage, type Paging } from './image';
import { formatResult, parseOutput, type CaseResult } from './results';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'bochs');
const FLOPPY_BYTES = 1474560;
/** Stage two is loaded from 0x7E00 and must stay below the paging structures at 0x90000. */
const MAX_IMAGE_BYTES = 0x90000 - 0x7c00;

export function haveTool(cmd: string, arg = '--version'): boolean {
  const r = spawnSync(cmd, [arg], { stdio: 'ignore' });
  return !r.error;
}

export function haveBochs(): boolean {
  return haveTool('bochs', '--help') && haveTool('nasm', '-v');
}

/** Assembles harness.asm around the given cases. */
export function assembleImage(cases: readonly TestCase[], work: string): Uint8Array {
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'cases.inc'), casesInclude(cases));
  const out = join(work, 'image.bin');
  execFileSync('nasm', ['-f', 'bin', '-I', `${work}/`, '-o', out, join(FIXTURES, 'harness.asm')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const bytes = new Uint8Array(execFileSync('cat', [out], { maxBuffer: 8 * 1024 * 1024 }));
  // 16-bit cases run in a 64 KiB code segment based at 0x7C00
  const max = cases.some((c) => c.bits === 16) ? 0x10000 : MAX_IMAGE_BYTES;
  if (bytes.length > max) throw new Error(`image of ${bytes.length} bytes is too large; use fewer cases per image`);
  return bytes;
}

function bochsrc(): string {
  return [
    'megs: 32',
    'romimage: file=/usr/share/bochs/BIOS-bochs-latest',
    'vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest',
    'floppya: 1_44=disk.img, status=inserted',
    'boot: floppy',
    'display_library: sdl2',
    'log: bochs.log',
    'panic: action=fatal',
    'error: action=report',
    'info: action=report',
    'debug: action=ignore',
    'speaker: enabled=0',
    'sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy',
    'port_e9_hack: enabled=1',
    '',
  ].join('\n');
}

/** Boots the image from a floppy on Bochs; resolves with Bochs's stdout (which carries port 0xE9). */
export function runBochs(image: Uint8Array, work: string, timeoutMs = 120_000): Promise<string> {
  mkdirSync(work, { recursive: true });
  const disk = new Uint8Array(FLOPPY_BYTES);
  disk.set(image);
  writeFileSync(join(work, 'disk.img'), disk);
  writeFileSync(join(work, 'bochsrc'), bochsrc());
  return new Promise((resolve, reject) => {
    const child = spawn('bochs', ['-q', '-f', 'bochsrc'], {
      cwd: work,
      env: { ...process.env, SDL_VIDEODRIVER: 'dummy' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    const errs: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => errs.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      if (!text.includes('@END')) {
        reject(new Error(`Bochs did not finish the run (see ${work}/bochs.log):\n${text.slice(-1500)}\n${Buffer.concat(errs).toString().slice(-1500)}`));
      } else resolve(text);
    });
    child.stdin.end('c\n');
  });
}

/**
 * Assembles and runs a group of cases on Bochs; results keyed by image-local
 * index. `paging` runs the image a second time with paging on and reports
 * the indices whose results changed (there should be none).
 */
export async function bochsResults(cases: readonly TestCase[], work: string, paging?: Paging): Promise<BochsRun> {
  const image = assembleImage(cases, work);
  const results = parseOutput(await runBochs(image, work));
  const pagingChanged: number[] = [];
  if (paging && paging !== 'off') {
    const paged = parseOutput(await runBochs(patchImage(image, { paging }), join(work, `paging-${paging}`)));
    for (const [i, r] of results) {
      const p = paged.get(i);
      if (!p || formatResult(p) !== formatResult(r)) pagingChanged.push(i);
    }
  }
  return { image, results, pagingChanged };
}

export interface BochsRun {
  image: Uint8Array;
  results: Map<number, CaseResult>;
  pagingChanged: number[];
}

/** bochsResults for several groups, a few Bochs processes at a time; results in group order. */
export async function bochsResultsMany(groups: readonly (readonly TestCase[])[], work: string, paging?: Paging): Promise<BochsRun[]> {
  const out: BochsRun[] = [];
  const width = Math.max(1, availableParallelism() - 1);
  for (let g = 0; g < groups.length; g += width) {
    const batch = groups.slice(g, g + width);
    out.push(...await Promise.all(batch.map((group, k) => bochsResults(group, join(work, `image-${g + k}`), paging))));
  }
  return out;
}
