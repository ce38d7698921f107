// Regenerates the Bochs goldens in test/fixtures/bochs/: generates the cases,
// assembles the harness images with nasm, runs them on Bochs and stores the
// images and Bochs's per-case results (gzip), plus manifest.json.
// Needs nasm and bochs (Debian: bochs bochsbios vgabios bochs-sdl).
//
//   npx tsx test/bochs/regen-goldens.ts [--seed N] [--count N] [--per-image N] [--keep-work]

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { categoryByName } from './categories';
import { FIXTURES, bochsResultsMany, haveBochs } from './bochs-runner';
import { GENERATOR_VERSION, generateCases, sourceHash, splitImages } from './generator';
import { formatResult } from './results';
import { DEFAULT_COUNT, DEFAULT_PER_IMAGE, DEFAULT_SEED, RESULTS_FILE, imageFile, type Manifest } from './goldens';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  if (!haveBochs()) throw new Error('regen needs nasm and bochs on PATH');
  const seed = option('--seed', DEFAULT_SEED) >>> 0;
  const count = option('--count', DEFAULT_COUNT);
  const perImage = option('--per-image', DEFAULT_PER_IMAGE);
  const work = mkdtempSync(join(tmpdir(), 'bochs-regen-'));
  const cases = generateCases(seed, count);
  const groups = splitImages(cases, perImage);
  const lines: string[] = [];
  const manifest: Manifest = {
    generatorVersion: GENERATOR_VERSION, seed, count, perImage, sourceHash: sourceHash(cases), results: RESULTS_FILE, images: [],
  };
  // each image also runs with paging on (4 KiB pages for even images, a 4 MiB page for odd
  // ones) to confirm that the results do not depend on it, as the paging test assumes
  const runs = [
    ...await bochsResultsMany(groups.filter((_, g) => g % 2 === 0), join(work, 'even'), '4k'),
    ...await bochsResultsMany(groups.filter((_, g) => g % 2 === 1), join(work, 'odd'), '4m'),
  ];
  const order = groups.map((_, g) => (g % 2 === 0 ? g / 2 : Math.ceil(groups.length / 2) + (g - 1) / 2));
  let pagingChanged = 0;
  for (const [g, k] of order.entries()) {
    pagingChanged += runs[k].pagingChanged.length;
    if (runs[k].pagingChanged.length) console.warn(`image ${g}: Bochs results change with paging for local cases ${runs[k].pagingChanged.join(', ')}`);
  }
  let faults = 0;
  groups.forEach((group, g) => {
    const { image, results } = runs[order[g]];
    const file = imageFile(g);
    writeFileSync(join(FIXTURES, file), gzipSync(image, { level: 9 }));
    manifest.images.push({ file, first: group[0].index, count: group.length, bytes: image.length });
    group.forEach((tc, local) => {
      const r = results.get(local) ?? { kind: 'missing' as const };
      if (r.kind !== 'state' && !categoryByName(tc.category).faults) {
        faults++;
        console.warn(`case ${tc.index} [${tc.category}] gave ${formatResult(r)} on Bochs:\n  ${tc.lines.join('\n  ')}`);
      }
      lines.push(`${tc.index} ${formatResult(r)}`);
    });
  });
  writeFileSync(join(FIXTURES, RESULTS_FILE), gzipSync(lines.join('\n') + '\n', { level: 9 }));
  writeFileSync(join(FIXTURES, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  if (!process.argv.includes('--keep-work')) rmSync(work, { recursive: true, force: true });
  else console.log(`work files kept in ${work}`);
  console.log(`${count} cases in ${groups.length} images, seed ${seed}; ${faults} unexpected fault(s) on Bochs, ${pagingChanged} result(s) changed by paging`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
