// Assembles and runs both guests, prints their console text once and a
// table of exit counts.   npx tsx examples/virtio-vs-uart/run.ts
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildExample, GUESTS, runExample } from './compare';

const here = dirname(fileURLToPath(import.meta.url));
const read = (p: string): string | undefined => (existsSync(join(here, p)) ? readFileSync(join(here, p), 'utf8') : undefined);

const runs = GUESTS.map((g) => runExample(g, buildExample(g, read)));
process.stdout.write(runs[0].text);
if (runs[1].text !== runs[0].text) process.stdout.write(`\n(virtio output differs:)\n${runs[1].text}`);
console.log();
const rows: [string, (r: (typeof runs)[number]) => string | number][] = [
  ['stop', (r) => `${r.stop.reason} ${r.stop.code ?? ''}`.trim()],
  ['bytes printed', (r) => r.text.length],
  ['instructions', (r) => r.instructions],
  ['VM exits', (r) => r.totalExits],
  ['  IO_INSTRUCTION', (r) => r.ioExits],
  ['  VMCALL', (r) => r.byReason.VMCALL ?? 0],
  ['virtio notifications', (r) => r.virtio.notifications],
  ['virtio buffers / bytes', (r) => `${r.virtio.txBuffers} / ${r.virtio.txBytes}`],
  ['virtio interrupts (suppressed)', (r) => `${r.virtio.interrupts} (${r.virtio.suppressedInterrupts})`],
];
console.log(`${''.padEnd(32)}${runs.map((r) => r.name.padStart(12)).join('')}`);
for (const [label, f] of rows) console.log(`${label.padEnd(32)}${runs.map((r) => String(f(r)).padStart(12)).join('')}`);
for (const r of runs) console.log(`\n${r.name} I/O exits by port: ${r.ioPorts.map((p) => `${p.key} ${p.count}`).join(', ')}`);
