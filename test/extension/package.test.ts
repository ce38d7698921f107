// The .vsix that `npm run package` builds, read back as a zip: exactly the
// files the manifest and the example commands need (nothing else: no source
// maps, sources, tests or node_modules), at most 1 MB, the marketplace fields
// of its package.json and vsixmanifest, a README whose links work on the
// marketplace, and bundles that activate: the desktop one in Node with the
// stand-in API, the browser one in a context with only a Web Worker's globals,
// where it debugs a guest to a VM exit.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readZip, type ZipFile } from './vsix';
import { fakeVscode, FakeUri } from './fakeVscode';
import { withVscodeModule } from './vscodeModule';
import { EXAMPLES } from '../../src/extension/examples';
import { buildHarness, REPO, runInWorkerLikeContext } from './web/host';

const MAX_BYTES = 1024 * 1024;

interface Manifest {
  name: string;
  displayName: string;
  description: string;
  version: string;
  publisher: string;
  license: string;
  main: string;
  browser: string;
  icon: string;
  repository: { type: string; url: string };
  homepage: string;
  bugs: { url: string };
  galleryBanner: { color: string; theme: string };
  categories: string[];
  keywords: string[];
  engines: { vscode: string };
  capabilities: { virtualWorkspaces: boolean; untrustedWorkspaces: { supported: boolean } };
  devDependencies: Record<string, string>;
  contributes: {
    commands: { command: string }[];
    grammars: { path: string }[];
    languages: { configuration: string }[];
    jsonValidation: { url: string }[];
    walkthroughs: { steps: { media: { markdown?: string; image?: string; svg?: string } }[] }[];
  };
}

/** The one reason to skip: the packaging tool is not installed (npm install puts it there). */
const skip = ((): string | false => {
  try {
    createRequire(import.meta.url).resolve('@vscode/vsce/package.json');
    return false;
  } catch {
    return '@vscode/vsce is not installed (npm install): the .vsix cannot be built';
  }
})();

let dir = '';
let vsixPath = '';
let built: { status: number; output: string } = { status: 1, output: '' };
let zip: ZipFile | undefined;

before(() => {
  if (skip !== false) return;
  dir = mkdtempSync(join(tmpdir(), 'hyperstep-vsix-'));
  vsixPath = join(dir, 'hyperstep.vsix');
  const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'package.mjs'), '--out', vsixPath], { cwd: REPO, encoding: 'utf8' });
  built = { status: r.status ?? 1, output: `${r.stdout}${r.stderr}` };
  if (built.status === 0 && existsSync(vsixPath)) zip = readZip(readFileSync(vsixPath));
});

after(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

const source = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Manifest;
const strip = (p: string): string => p.replace(/^\.\//, '');

/** Images a walkthrough page shows, relative to the repository. */
function pageImages(page: string): string[] {
  const text = readFileSync(join(REPO, page), 'utf8');
  const folder = page.slice(0, page.lastIndexOf('/'));
  return [...text.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => `${folder}/${m[1]}`);
}

/** What the extension needs at run time, derived from package.json and the example table. */
function neededFiles(): string[] {
  const c = source.contributes;
  const media = c.walkthroughs.flatMap((w) => w.steps.flatMap((s) => [s.media.markdown, s.media.image, s.media.svg])).filter((m): m is string => m !== undefined);
  return [
    'package.json', 'readme.md', 'changelog.md', 'LICENSE.txt',
    strip(source.main), strip(source.browser), source.icon,
    ...c.grammars.map((g) => strip(g.path)),
    ...c.languages.map((l) => strip(l.configuration)),
    ...c.jsonValidation.map((j) => strip(j.url)),
    ...media,
    ...media.filter((m) => m.endsWith('.md')).flatMap(pageImages),
    ...EXAMPLES.flatMap((e) => e.files.map((f) => `examples/${e.id}/${f}`)),
  ].map((p) => `extension/${p}`);
}

function skipUnlessBuilt(): void {
  assert.ok(zip !== undefined, `npm run package failed (status ${built.status}):\n${built.output}`);
}

test('npm run package builds the .vsix without vsce warnings and reports its path, size and file count', { skip }, () => {
  skipUnlessBuilt();
  assert.match(built.output, new RegExp(`${vsixPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n(\\d+) bytes, (\\d+) files`));
  assert.doesNotMatch(built.output, /warn/i);
});

test('the .vsix holds exactly the files the extension needs, and nothing from development', { skip }, () => {
  skipUnlessBuilt();
  const names = (zip as ZipFile).entries.map((e) => e.name).sort();
  const expected = ['[Content_Types].xml', 'extension.vsixmanifest', ...neededFiles()].sort();
  assert.deepEqual(names, [...new Set(expected)]);
  for (const n of names) assert.doesNotMatch(n, /\.map$|\/src\/|\/test\/|node_modules|\.ts$|\.vsix$/, n);
});

test('the .vsix is at most 1 MB', { skip }, () => {
  skipUnlessBuilt();
  const size = statSync(vsixPath).size;
  assert.ok(size <= MAX_BYTES, `${size} bytes`);
});

test('the packaged package.json has the marketplace fields, an engine the API types allow and the browser entry', { skip }, () => {
  skipUnlessBuilt();
  const m = JSON.parse((zip as ZipFile).text('extension/package.json')) as Manifest;
  assert.equal(m.name, 'hyperstep');
  assert.equal(m.publisher, 'hyperstep');
  assert.match(m.version, /^\d+\.\d+\.\d+$/);
  assert.ok(m.displayName.length > 0 && m.description.length > 20);
  assert.equal(m.license, 'MIT');
  assert.equal(m.icon, 'media/icon.png');
  assert.match(m.repository.url, /^https:\/\/github\.com\/.+\.git$/);
  assert.match(m.homepage, /^https:\/\//);
  assert.match(m.bugs.url, /^https:\/\//);
  assert.match(m.galleryBanner.color, /^#[0-9a-f]{6}$/i);
  assert.ok(['dark', 'light'].includes(m.galleryBanner.theme));
  const allowed = ['Programming Languages', 'Snippets', 'Linters', 'Themes', 'Debuggers', 'Formatters', 'Keymaps', 'SCM Providers', 'Other', 'Extension Packs', 'Language Packs', 'Data Science', 'Machine Learning', 'Visualization', 'Notebooks', 'Education', 'Testing', 'AI', 'Chat'];
  assert.ok(m.categories.includes('Debuggers') && m.categories.includes('Education'));
  for (const c of m.categories) assert.ok(allowed.includes(c), c);
  assert.ok(m.keywords.length >= 5 && m.keywords.length <= 30, 'the marketplace takes at most 30 keywords');
  assert.equal(m.main, './dist/extension.js');
  assert.equal(m.browser, './dist/web/extension.js');
  assert.equal(m.capabilities.virtualWorkspaces, true);
  // engines.vscode must not be older than the API the code is typed against (vsce refuses that too).
  const engine = /^\^(\d+)\.(\d+)\.\d+$/.exec(m.engines.vscode);
  const types = /(\d+)\.(\d+)\.\d+/.exec(m.devDependencies['@types/vscode'] ?? '');
  assert.ok(engine && types, `${m.engines.vscode} / ${m.devDependencies['@types/vscode']}`);
  const installed = (JSON.parse(readFileSync(join(REPO, 'node_modules', '@types', 'vscode', 'package.json'), 'utf8')) as { version: string }).version.split('.').map(Number);
  const [major, minor] = [Number(engine[1]), Number(engine[2])];
  assert.ok(major > (installed[0] ?? 0) || (major === installed[0] && minor >= (installed[1] ?? 0)), `engines.vscode ${m.engines.vscode} is older than @types/vscode ${installed.join('.')}`);
  assert.deepEqual(m.contributes, source.contributes, 'the packaged contributions are the repository\'s');
});

test('the vsixmanifest names the icon, the license, the changelog and the web extension kind', { skip }, () => {
  skipUnlessBuilt();
  const x = (zip as ZipFile).text('extension.vsixmanifest');
  assert.match(x, /<Icon>extension\/media\/icon\.png<\/Icon>/);
  assert.match(x, /<License>extension\/LICENSE\.txt<\/License>/);
  assert.match(x, /Content\.Changelog" Path="extension\/changelog\.md"/);
  assert.match(x, /Microsoft\.VisualStudio\.Code\.ExtensionKind" Value="workspace,web"/);
  assert.match(x, /Branding\.Color" Value="#[0-9a-fA-F]{6}"/);
  assert.match(x, /<Categories>Debuggers,Education/);
});

test('the packaged README links only to https addresses and anchors; its images are https PNGs on the repository', { skip }, () => {
  skipUnlessBuilt();
  const readme = (zip as ZipFile).text('extension/readme.md');
  const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1] as string);
  assert.ok(images.length >= 2, 'the README shows screenshots');
  for (const src of images) assert.match(src, /^https:\/\/github\.com\/hyperstep\/hyperstep\/raw\/HEAD\/media\/.+\.png$/, src);
  for (const [, href] of readme.matchAll(/\]\(([^)\s]+)\)/g)) assert.match(href as string, /^(https:\/\/|#)/, href);
  assert.equal(readme.split('\n').slice(0, 6).join('\n'), readFileSync(join(REPO, 'README.md'), 'utf8').split('\n').slice(0, 6).join('\n'));
});

test('the bundles hold no source maps and are minified', { skip }, () => {
  skipUnlessBuilt();
  for (const name of ['extension/dist/extension.js', 'extension/dist/web/extension.js']) {
    const js = (zip as ZipFile).text(name);
    assert.doesNotMatch(js, /sourceMappingURL/, name);
    assert.ok(js.split('\n').length < 200, `${name} is not minified`);
  }
});

test('the packaged desktop bundle activates against the stand-in API and registers what package.json declares', { skip }, (t) => {
  skipUnlessBuilt();
  const fake = fakeVscode();
  withVscodeModule(fake.api, () => {
    const m = new Module(join(dir, 'extension.js')) as Module & { _compile(code: string, filename: string): void; exports: { activate(c: unknown): void; deactivate(): void } };
    m.paths = [];
    const t0 = performance.now();
    m._compile((zip as ZipFile).text('extension/dist/extension.js'), join(dir, 'extension.js'));
    const t1 = performance.now();
    const subscriptions: { dispose(): unknown }[] = [];
    m.exports.activate({ subscriptions, extensionUri: FakeUri.file('/extension') });
    const t2 = performance.now();
    t.diagnostic(`desktop bundle: load ${(t1 - t0).toFixed(1)} ms, activate() ${(t2 - t1).toFixed(1)} ms`);
    assert.deepEqual([...fake.state.commands.keys()].sort(), source.contributes.commands.map((c) => c.command).sort());
    assert.ok(fake.state.factories.has('hyperstep'));
    assert.ok(fake.state.trackerFactories.has('hyperstep'));
    for (const s of subscriptions) s.dispose();
    m.exports.deactivate();
  });
});

test('the packaged browser bundle debugs examples/demo/vmm-tour.asm to a VM exit with only a Web Worker\'s globals', { skip }, async (t) => {
  skipUnlessBuilt();
  const result = await runInWorkerLikeContext(await buildHarness(), {
    bundle: (zip as ZipFile).text('extension/dist/web/extension.js'),
    files: { '/w/vmm-tour.asm': readFileSync(join(REPO, 'examples', 'demo', 'vmm-tour.asm'), 'utf8') },
    program: '/w/vmm-tour.asm',
    launch: { mode: 'flat32' },
    filters: ['exit-30'],
  });
  t.diagnostic(`browser bundle: load ${result.loadMs.toFixed(1)} ms, activate() ${result.activateMs.toFixed(1)} ms`);
  assert.equal(result.stopped.reason, 'exception');
  assert.equal(result.exceptionId, '30 IO_INSTRUCTION');
  assert.equal(result.vmcsExitReason, '0x0000001E');
});
