// Live comparison against the real nasm (run by `npm run test:oracles`): every fixture, plus random
// programs full of forward/backward jumps whose short/near choices depend on each other.
// Without nasm this fails when CI is set and skips otherwise.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { assemble } from '../../src/x86/asm/index';
import { FIXTURE_DIR, assembleFixture, diffReport, fixtureNames, stripListingWarnings } from './fixtures';

function nasmAvailable(): boolean {
  try {
    execFileSync('nasm', ['-v'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

const HAVE_NASM = nasmAvailable();
const skip = HAVE_NASM ? false : 'nasm is not installed: live nasm comparisons skipped (install nasm 2.16 to run them)';

test('nasm is available when running in CI', () => {
  if (process.env.CI) assert.ok(HAVE_NASM, 'nasm must be installed for the oracle tests in CI');
});

const tmp = mkdtempSync(join(tmpdir(), 'hyperstep-asm-oracle-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function runNasm(file: string, cwd: string, name: string): { bin: Uint8Array; lst: string } {
  const bin = join(tmp, `${name}.bin`);
  const lst = join(tmp, `${name}.lst`);
  execFileSync('nasm', ['-f', 'bin', '-I', './', file, '-o', bin, '-l', lst], { cwd, stdio: 'pipe' });
  return { bin: new Uint8Array(readFileSync(bin)), lst: readFileSync(lst, 'utf8') };
}

for (const name of fixtureNames()) {
  test(`live nasm: ${name}`, { skip }, () => {
    const nasm = runNasm(`${name}.asm`, FIXTURE_DIR, name);
    const { source, result } = assembleFixture(name);
    const report = diffReport(name, source, result, nasm.bin);
    assert.equal(report, '', report);
    assert.equal(stripListingWarnings(result.listing), stripListingWarnings(nasm.lst));
  });
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomJumpProgram(r: () => number): string {
  const bits = r() < 0.5 ? 16 : 32;
  const n = 20 + Math.floor(r() * 40);
  const labels = Array.from({ length: n }, (_, i) => `l${i}`);
  const lines = [`bits ${bits}`, `org 0x${Math.floor(r() * 0x100).toString(16)}00`];
  const pick = (): string => labels[Math.floor(r() * labels.length)];
  const jumps = ['jmp', 'je', 'jne', 'jc', 'jg', 'call', 'jmp short', 'jmp near', 'jcxz', 'loop'];
  for (let i = 0; i < n; i++) {
    lines.push(`${labels[i]}:`);
    const k = Math.floor(r() * 4);
    for (let j = 0; j < k; j++) {
      const x = r();
      if (x < 0.45) {
        const j2 = jumps[Math.floor(r() * 7)];
        lines.push(`  ${j2 === 'jmp short' ? 'jmp' : j2} ${pick()}`);
      } else if (x < 0.65) lines.push(`  times ${Math.floor(r() * 70)} nop`);
      else if (x < 0.8) lines.push(`  mov ${bits === 16 ? 'ax' : 'eax'}, ${pick()} - ${pick()}`);
      else if (x < 0.9) lines.push(`  add ${bits === 16 ? 'bx' : 'ebx'}, ${pick()} - $`);
      else lines.push(`  db ${Math.floor(r() * 256)}`);
    }
  }
  return lines.join('\n') + '\n';
}

test('live nasm: random programs with interdependent jump sizes', { skip }, () => {
  const r = rng(2024);
  let compared = 0;
  for (let i = 0; i < 150; i++) {
    const src = randomJumpProgram(r);
    const file = join(tmp, `rand${i}.asm`);
    writeFileSync(file, src);
    let nasmBin: Uint8Array | undefined;
    try {
      nasmBin = runNasm(file, tmp, `rand${i}`).bin;
    } catch {
      // nasm rejected it (e.g. a value out of range); ours must reject it too.
      const ours = assemble(src, { fileName: file });
      assert.equal(ours.ok, false, `nasm rejected but we accepted:\n${src}`);
      continue;
    }
    const res = assemble(src, { fileName: file });
    const report = diffReport(`rand${i}`, src, res, nasmBin);
    assert.equal(report, '', `${report}\n${src}`);
    compared++;
  }
  assert.ok(compared > 50, `only ${compared} programs were accepted by nasm`);
});
