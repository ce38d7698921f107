// Regenerates every golden output from the real tools (nasm, ndisasm, gcc):
// runs each test/<area>/regen-goldens.ts in turn.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

let failed = 0;
for (const area of readdirSync('test').sort()) {
  const script = join('test', area, 'regen-goldens.ts');
  if (!existsSync(script)) continue;
  console.log(`== ${script}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
