// The layering rules of DEVELOPERS.md, checked on the import statements.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

function sources(dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\brequire\(\s*['"]([^'"]+)['"]\s*\)|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) found.push(m[1] ?? m[2] ?? m[3] ?? m[4]);
  return found;
}

const NODE_BUILTINS = /^(node:|fs$|path$|os$|child_process$|crypto$|util$|stream$|events$|buffer$|worker_threads$|net$|http$|url$|zlib$)/;

function resolvesInto(file: string, spec: string, layer: string): boolean {
  if (!spec.startsWith('.')) return false;
  const target = relative('src', join(file, '..', spec));
  return target === layer || target.startsWith(layer + '/');
}

test('src/x86 imports no Node built-ins and no higher layer', () => {
  for (const f of sources('src/x86')) {
    for (const spec of importsOf(f)) {
      assert.ok(!NODE_BUILTINS.test(spec), `${f} imports Node built-in '${spec}'`);
      assert.ok(spec.startsWith('.'), `${f} imports package '${spec}': the guest machine has no dependencies`);
      for (const layer of ['vmm', 'debug', 'extension', 'cli'])
        assert.ok(!resolvesInto(f, spec, layer), `${f} imports from src/${layer}`);
    }
  }
});

test('src/vmm imports no Node built-ins, vscode, or the debugger', () => {
  for (const f of sources('src/vmm')) {
    for (const spec of importsOf(f)) {
      assert.ok(!NODE_BUILTINS.test(spec) && spec !== 'vscode', `${f} imports '${spec}'`);
      for (const layer of ['debug', 'extension', 'cli'])
        assert.ok(!resolvesInto(f, spec, layer), `${f} imports from src/${layer}`);
    }
  }
});

test('only src/extension imports vscode', () => {
  for (const f of sources('src')) {
    if (f.startsWith(join('src', 'extension'))) continue;
    assert.ok(!importsOf(f).includes('vscode'), `${f} imports vscode`);
  }
});

test('the DAP session (all of src/debug but the stdio entry) imports no Node built-ins', () => {
  for (const f of sources('src/debug')) {
    if (f.endsWith('adapter.ts')) continue;
    for (const spec of importsOf(f)) assert.ok(!NODE_BUILTINS.test(spec), `${f} imports Node built-in '${spec}'`);
  }
});
