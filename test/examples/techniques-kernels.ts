// The example kernels of examples/techniques, assembled with their includes,
// and the console output the unmodified kernel gives natively: shared by the
// examples test and the software-technique tests.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemble } from '../../src/x86/asm/index';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const TECHNIQUES_DIR = join(REPO, 'examples', 'techniques');

export const EXPECTED_CONSOLE = [
  'kernel: traps, paging and the timer are set up',
  'kernel: critical sections done: 100',
  'kernel: tick 3, starting the user task in ring 3',
  'user: hello from ring 3',
  'user: computing a checksum while the timer preempts me',
  'user: checksum=0xDCD2E0DD',
  'user: exiting',
  'kernel: the user task exited with status 0',
  'kernel: ticks=15 syscalls=6 critical=100 torn=0',
  '',
].join('\n');

export interface BuiltKernel {
  bytes: Uint8Array;
  symbols: Map<string, number>;
  origin: number;
}

/** Assembles examples/techniques/`name`; fails the test on any diagnostic. */
export function buildKernel(name: string): BuiltKernel {
  const path = join(TECHNIQUES_DIR, name);
  const r = assemble(readFileSync(path, 'utf8'), {
    fileName: relative(REPO, path),
    readFile: (p) => {
      try {
        return readFileSync(resolve(REPO, p), 'utf8');
      } catch {
        return undefined;
      }
    },
  });
  assert.deepEqual(r.diagnostics.map((d) => `${d.file}:${d.line}: ${d.message}`), [], `${name} assembles without diagnostics`);
  assert.ok(r.ok);
  return { bytes: r.bytes, symbols: r.symbols, origin: r.origin };
}
