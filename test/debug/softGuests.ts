// Guests for the debugger under the software techniques: the example kernels
// of examples/techniques (with their includes) served from memory under /t/,
// and a small flat32 guest whose CLI traps (trap-and-emulate) or is a
// callout (binary translation), with calls to step over, in and out of.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TECHNIQUES_DIR } from '../examples/techniques-kernels';

export { EXPECTED_CONSOLE, TECHNIQUES_DIR } from '../examples/techniques-kernels';

/** examples/techniques/*.asm and *.inc as /t/NAME. */
export const TECHNIQUE_FILES: Record<string, string> = Object.fromEntries(
  readdirSync(TECHNIQUES_DIR)
    .filter((n) => /\.(asm|inc)$/.test(n))
    .map((n) => [`/t/${n}`, readFileSync(join(TECHNIQUES_DIR, n), 'utf8')]),
);

/** The line numbers below matter: tests set breakpoints by line. */
export const SOFT_GUEST = [
  '        bits 32', //  1
  '        org 0x1000', //  2
  'start:  mov esp, 0x80000', //  3
  '        mov ecx, 0', //  4
  'again:  inc ecx', //  5
  '        cli', //  6  trapped and emulated, or a callout
  '        cmp ecx, 3', //  7  where the guest resumes after it
  '        jb again', //  8
  '        call double', //  9
  '        mov dx, 0x501', // 10
  '        mov al, 0', // 11
  '        out dx, al', // 12  the debug-exit port: power off
  '        hlt', // 13
  'double: add ecx, ecx', // 14
  '        call inner', // 15
  '        ret', // 16
  'inner:  inc ecx', // 17
  '        ret', // 18
].join('\n');

export const SOFT_FILES: Record<string, string> = {
  ...TECHNIQUE_FILES,
  '/s/soft.asm': SOFT_GUEST,
  '/s/spin.asm': '        bits 32\n        org 0x1000\nspin:   inc eax\n        jmp spin\n',
  '/s/poweroff.vm.json': JSON.stringify({ devices: { debugExit: { enabled: true } } }),
};

/** The 1-based line of a file's first line containing `text`. */
export function lineOf(files: Record<string, string>, file: string, text: string): number {
  const i = (files[file] ?? '').split('\n').findIndex((l) => l.includes(text));
  if (i < 0) throw new Error(`no '${text}' in ${file}`);
  return i + 1;
}
