// "Hyperstep: Compare techniques": the Markdown it previews for a kernel read
// through a file accessor (as workspace.fs serves it), the -pv sibling found
// by name, and errors with file:line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { memoryFileAccessor } from '../../src/debug/fileAccessor';
import { compareMarkdown, pvSibling } from '../../src/extension/compareCommand';
import { compareTechniques, formatCompareMarkdown } from '../../src/vmm/compare/index';
import { buildKernel, REPO, TECHNIQUES_DIR } from '../examples/techniques-kernels';

/** The examples/techniques files under their repository-relative names, as the assembler resolves includes. */
function techniqueFiles(except: string[] = []): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(TECHNIQUES_DIR)) if (!except.includes(name)) files[`examples/techniques/${name}`] = readFileSync(join(TECHNIQUES_DIR, name), 'utf8');
  void REPO;
  return files;
}

test('pvSibling: kernel.asm → kernel-pv.asm; a PV build has none', () => {
  assert.equal(pvSibling('/w/examples/techniques/kernel.asm'), '/w/examples/techniques/kernel-pv.asm');
  assert.equal(pvSibling('C:\\labs\\k.NASM'), 'C:\\labs\\k-pv.NASM');
  assert.equal(pvSibling('/w/kernel-pv.asm'), undefined);
});

test('the preview is the same table hyperstep compare builds, with the PV build found next to the kernel and progress per technique', async () => {
  const steps: string[] = [];
  const md = await compareMarkdown(memoryFileAccessor(techniqueFiles()), 'examples/techniques/kernel.asm', (m) => steps.push(m));
  assert.ok(md !== undefined);
  const k = buildKernel('kernel.asm'), pv = buildKernel('kernel-pv.asm');
  const expected = formatCompareMarkdown(compareTechniques({ guest: { image: k.bytes, org: k.origin }, pv: { image: pv.bytes, org: pv.origin } }), 'Techniques compared: kernel.asm (paravirtualized build: kernel-pv.asm)');
  assert.equal(md, expected);
  assert.equal(steps.length, 6);
  assert.equal(steps[5], 'paravirtualization done');
});

test('without the sibling the paravirt row is skipped; cancelling stops between techniques; assembly errors name file:line', async () => {
  const md = await compareMarkdown(memoryFileAccessor(techniqueFiles(['kernel-pv.asm'])), 'examples/techniques/kernel.asm');
  assert.match(md ?? '', /\| paravirtualization \| skipped \|/);
  let calls = 0;
  const none = await compareMarkdown(memoryFileAccessor(techniqueFiles()), 'examples/techniques/kernel.asm', () => undefined, () => ++calls > 2);
  assert.equal(none, undefined);
  await assert.rejects(compareMarkdown(memoryFileAccessor({ 'bad.asm': 'bits 32\n  mov eax,\n' }), 'bad.asm'), /bad\.asm:2:/);
  await assert.rejects(compareMarkdown(memoryFileAccessor({}), 'gone.asm'), /Cannot read program 'gone\.asm'/);
  // A PV sibling that does not assemble is reported, not silently skipped.
  const broken = { ...techniqueFiles(), 'examples/techniques/kernel-pv.asm': 'bits 32\n  mov eax,\n' };
  await assert.rejects(compareMarkdown(memoryFileAccessor(broken), 'examples/techniques/kernel.asm'), /kernel-pv\.asm:2:/);
});
