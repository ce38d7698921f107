// The README's table of launch attributes, generated from package.json's
// contributes.debuggers (the `hyperstep` entry's configurationAttributes), so
// the page never disagrees with what the editor offers and validates.
//
//   npm run docs:attributes            rewrite the table between the markers in README.md
//   npm run docs:attributes -- --check exit 1 (and say so) when README.md is out of date
//
// test/extension/readme.test.ts fails when the table has drifted.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BEGIN_MARKER = '<!-- launch-attributes:begin (generated from package.json by `npm run docs:attributes`; do not edit) -->';
export const END_MARKER = '<!-- launch-attributes:end -->';

interface Schema {
  type?: string | string[];
  enum?: unknown[];
  anyOf?: Schema[];
  items?: Schema;
  properties?: Record<string, Schema>;
  description?: string;
  markdownDescription?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
}

interface Manifest {
  contributes: { debuggers: { type: string; configurationAttributes?: { launch?: { required?: string[]; properties: Record<string, Schema> } } }[] };
}

const cell = (text: string): string => text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').trim();
const code = (value: unknown): string => '`' + JSON.stringify(value) + '`';

function typeText(s: Schema): string {
  if (s.enum !== undefined && s.enum.length <= 8) return s.enum.map(code).join(' \\| ');
  if (s.anyOf !== undefined) return [...new Set(s.anyOf.map(typeText))].join(' \\| ');
  if (s.type === 'array' && s.items !== undefined) {
    const inner = s.items.anyOf !== undefined ? [...new Set(s.items.anyOf.map((a) => baseType(a)))].join(' or ') : baseType(s.items);
    return `array of ${inner}`;
  }
  return baseType(s);
}

function baseType(s: Schema): string {
  const t = Array.isArray(s.type) ? s.type.join(' \\| ') : s.type ?? 'any';
  if (s.enum !== undefined && s.enum.length > 8) return `${t} (${s.enum.length} values)`;
  if ((t === 'integer' || t === 'number') && (s.minimum !== undefined || s.maximum !== undefined)) {
    return `${t} ${s.minimum ?? ''}…${s.maximum ?? ''}`;
  }
  return t;
}

function description(s: Schema): string {
  return cell(s.markdownDescription ?? s.description ?? '');
}

/** The attributes table: one row per launch attribute, sub-attributes of plain objects after their parent. */
export function attributesTable(manifest: Manifest, type = 'hyperstep'): string {
  const entry = manifest.contributes.debuggers.find((d) => d.type === type);
  const launch = entry?.configurationAttributes?.launch;
  if (launch === undefined) throw new Error(`package.json has no launch attributes for the debug type "${type}"`);
  const required = new Set(launch.required ?? []);
  const rows = ['| attribute | type | default | description |', '|---|---|---|---|'];
  for (const [name, s] of Object.entries(launch.properties)) {
    const def = s.default === undefined ? '' : code(s.default);
    rows.push(`| \`${name}\`${required.has(name) ? ' (required)' : ''} | ${typeText(s)} | ${def} | ${description(s)} |`);
    if (s.type === 'object' && s.properties !== undefined) {
      for (const [sub, p] of Object.entries(s.properties)) {
        rows.push(`| \`${name}.${sub}\` | ${typeText(p)} | ${p.default === undefined ? '' : code(p.default)} | ${description(p)} |`);
      }
    }
  }
  return rows.join('\n');
}

/** The README with the generated table between the markers; throws when a marker is missing. */
export function withAttributesTable(readme: string, manifest: Manifest): string {
  const begin = readme.indexOf(BEGIN_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (begin < 0 || end < begin) throw new Error(`README.md needs the markers\n${BEGIN_MARKER}\n${END_MARKER}`);
  return `${readme.slice(0, begin + BEGIN_MARKER.length)}\n${attributesTable(manifest)}\n${readme.slice(end)}`;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function main(): void {
  const readmePath = join(root, 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;
  const updated = withAttributesTable(readme, manifest);
  if (process.argv.includes('--check')) {
    if (updated !== readme) {
      console.error('README.md: the launch attributes table is out of date; run npm run docs:attributes');
      process.exit(1);
    }
    return;
  }
  if (updated !== readme) writeFileSync(readmePath, updated);
  console.log(updated === readme ? 'README.md: launch attributes table up to date' : 'README.md: launch attributes table rewritten');
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
