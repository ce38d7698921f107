// The other files the extension contributes next to the grammar: the icon
// package.json names, and what the packaged extension ships.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { inflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { icon: string };

test('the icon is a 128x128 RGBA PNG with an opaque centre and transparent corners', () => {
  const png = readFileSync(join(root, pkg.icon));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.toString('latin1', 12, 16), 'IHDR');
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  assert.deepEqual([width, height, png[24], png[25]], [128, 128, 8, 6]);
  // Collect the IDAT data and undo filter type 0 rows (the generator writes no others).
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const len = png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + len));
    at += len + 12;
  }
  const raw = inflateSync(Buffer.concat(idat));
  assert.equal(raw.length, (width * 4 + 1) * height);
  const alpha = (x: number, y: number): number => raw[y * (width * 4 + 1) + 1 + x * 4 + 3] ?? -1;
  assert.equal(alpha(0, 0), 0);
  assert.equal(alpha(127, 127), 0);
  assert.equal(alpha(64, 64), 255);
});

test('the committed icon files are what media/make-icon.mjs draws', () => {
  const r = spawnSync(process.execPath, [join(root, 'media', 'make-icon.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

// What the .vsix holds (.vscodeignore) is checked on the built package: test/extension/package.test.ts.
