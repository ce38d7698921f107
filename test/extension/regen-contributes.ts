// Rewrites the generated part of package.json's `contributes.debuggers`
// entry (launch schema, snippets, initial configuration) from
// src/extension/launchSchema.ts, and README.md's launch attributes table from
// it (scripts/readme-attributes.ts). Run: npx tsx test/extension/regen-contributes.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { buildDebuggerContribution } from '../../src/extension/launchSchema';
import { DEBUG_TYPE } from '../../src/extension/configuration';
import { withAttributesTable } from '../../scripts/readme-attributes';

const path = new URL('../../package.json', import.meta.url);
const pkg = JSON.parse(readFileSync(path, 'utf8')) as { contributes: { debuggers: Record<string, unknown>[] } };
const entry = pkg.contributes.debuggers.find((d) => d['type'] === DEBUG_TYPE);
if (!entry) throw new Error(`package.json declares no "${DEBUG_TYPE}" debugger`);
Object.assign(entry, buildDebuggerContribution());
writeFileSync(path, JSON.stringify(pkg, null, 2) + '\n');
console.log('package.json: contributes.debuggers[hyperstep] regenerated');
const readme = new URL('../../README.md', import.meta.url);
writeFileSync(readme, withAttributesTable(readFileSync(readme, 'utf8'), pkg as unknown as Parameters<typeof withAttributesTable>[1]));
console.log('README.md: launch attributes table regenerated');
