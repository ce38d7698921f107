// README.md is the marketplace page and the repository's front page: it opens
// with the two set-up commands (a project rule), its launch attributes table
// is the one generated from package.json, and what it names exists: the
// commands, the examples, the files it links to.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { attributesTable, withAttributesTable, BEGIN_MARKER, END_MARKER } from '../../scripts/readme-attributes';
import { EXAMPLES } from '../../src/extension/examples';
import { REPO } from './web/host';

const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Parameters<typeof attributesTable>[0] & {
  contributes: { commands: { command: string; title: string }[]; menus: { commandPalette: { command: string; when?: string }[] } };
};

test('README.md opens with the two set-up commands: the demo and the test command', () => {
  assert.deepEqual(readme.split('\n').slice(0, 6), [
    '# Hyperstep',
    '',
    '```sh',
    'npm install && npm start   # builds, then boots the demo guest headless and narrates what it did',
    'npm test                   # typecheck + the whole test suite (needs only Node and npm)',
    '```',
  ]);
});

test('the launch attributes table is the one package.json generates (npm run docs:attributes rewrites it)', () => {
  assert.ok(readme.includes(BEGIN_MARKER) && readme.includes(END_MARKER), 'the markers are in README.md');
  assert.equal(withAttributesTable(readme, pkg), readme, 'README.md is out of date: run npm run docs:attributes');
  const table = attributesTable(pkg);
  for (const name of ['program', 'vm', 'stopOnEntry', 'mode', 'paging', 'breakOnExits', 'console.traceExits']) assert.match(table, new RegExp(`\\| \`${name.replace('.', '\\.')}\``), name);
});

test('the generator renders types, defaults and descriptions, escaping pipes', () => {
  const manifest = {
    contributes: {
      debuggers: [{
        type: 'hyperstep',
        configurationAttributes: {
          launch: {
            required: ['a'],
            properties: {
              a: { type: 'string', description: 'one | two', default: '${file}' },
              b: { type: 'string', enum: ['x', 'y'], markdownDescription: 'pick `x`', description: 'plain' },
              c: { anyOf: [{ type: 'integer', minimum: 1, maximum: 8 }, { type: 'string' }], description: 'either' },
              d: { type: 'array', items: { anyOf: [{ type: 'integer' }, { type: 'string' }] }, default: [], description: 'list' },
              e: { type: 'object', properties: { f: { type: 'boolean', default: true, description: 'sub' } }, default: {}, description: 'group' },
            },
          },
        },
      }],
    },
  };
  assert.equal(attributesTable(manifest), [
    '| attribute | type | default | description |',
    '|---|---|---|---|',
    '| `a` (required) | string | `"${file}"` | one \\| two |',
    '| `b` | `"x"` \\| `"y"` |  | pick `x` |',
    '| `c` | integer 1…8 \\| string |  | either |',
    '| `d` | array of integer or string | `[]` | list |',
    '| `e` | object | `{}` | group |',
    '| `e.f` | boolean | `true` | sub |',
  ].join('\n'));
  assert.throws(() => withAttributesTable('no markers', manifest), /markers/);
});

test('every command a user can run is in the README, and every example', () => {
  const hidden = new Set(pkg.contributes.menus.commandPalette.filter((m) => m.when === 'false').map((m) => m.command));
  for (const c of pkg.contributes.commands) {
    if (hidden.has(c.command)) continue;
    const title = c.title.replace(/…$/, '');
    assert.ok(readme.includes(title), `README.md does not mention the command "${c.title}"`);
  }
  for (const e of EXAMPLES) assert.ok(readme.includes(`| [${e.id}](`) || readme.includes(`| \`${e.id}\``), `README.md's examples table lacks ${e.id}`);
});

test('relative links in the README point at files of the repository (screenshots come from the end-to-end run)', () => {
  const links = [...readme.matchAll(/\]\(([^)\s#]+)(#[^)\s]*)?\)/g)].map((m) => m[1] as string).filter((l) => !/^[a-z]+:/.test(l));
  assert.ok(links.length > 10);
  const screenshots = ['media/screenshots/stopped-at-exit.png', 'media/screenshots/vmcs-variables.png'];
  for (const s of screenshots) assert.ok(links.includes(s), `the README shows ${s}`);
  for (const l of links) if (!screenshots.includes(l)) assert.ok(existsSync(join(REPO, l)), `README.md links to ${l}, which does not exist`);
  for (const l of links) assert.ok(!l.endsWith('.svg'), `${l}: the marketplace does not show SVG images from READMEs`);
});
