// package.json's contributions: the generated debugger entry is current, every
// launch attribute is described, snippets are valid launch configurations,
// and what is declared (commands, views, menus) is what activation registers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { buildDebuggerContribution, LAUNCH_ATTRIBUTES, INITIAL_CONFIGURATION, REFINED_ATTRIBUTES } from '../../src/extension/launchSchema';
import { LAUNCH_ATTRIBUTES as SESSION_ATTRIBUTES } from '../../src/debug/launchConfig';
import { filterIdFor, PRODUCED_EXIT_REASONS } from '../../src/debug/runtimeExits';
import { launchConfigurationProblem } from '../../src/extension/launchValidation';
import { exitReason } from '../../src/vmm/vmx/exit-reasons';
import { fakeVscode } from './fakeVscode';

interface Command { command: string; title: string; category?: string; icon?: string }
interface MenuItem { command: string; when?: string; group?: string }
interface Pkg {
  activationEvents: string[];
  contributes: {
    debuggers: Record<string, unknown>[];
    commands: Command[];
    menus: Record<string, MenuItem[]>;
    views: Record<string, { id: string; name: string; when?: string }[]>;
    jsonValidation: { fileMatch: string[]; url: string }[];
    languages: { id: string; configuration: string }[];
    grammars: { path: string }[];
  };
}
interface Property { type?: string | string[]; anyOf?: unknown[]; description?: string; default?: unknown; items?: { anyOf: { enum: unknown[] }[] } }

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as Pkg;
const debuggerEntry = pkg.contributes.debuggers.find((d) => d['type'] === 'hyperstep') ?? {};
const properties = ((debuggerEntry['configurationAttributes'] as { launch: { properties: Record<string, Property> } }).launch.properties);

test('package.json holds the debugger entry generated from the attribute table (regenerate: npx tsx test/extension/regen-contributes.ts)', () => {
  const generated = buildDebuggerContribution();
  for (const key of Object.keys(generated)) assert.deepEqual(debuggerEntry[key], generated[key], `contributes.debuggers[hyperstep].${key}`);
});

test('every launch attribute of the session has a type, a description and a default in the schema', () => {
  assert.deepEqual(Object.keys(properties), SESSION_ATTRIBUTES.map((a) => a.name));
  assert.deepEqual(LAUNCH_ATTRIBUTES.map((a) => a.name), SESSION_ATTRIBUTES.map((a) => a.name));
  for (const name of REFINED_ATTRIBUTES) assert.ok(properties[name], `refinement of unknown attribute ${name}`);
  for (const [name, p] of Object.entries(properties)) {
    assert.ok(p.type !== undefined || Array.isArray(p.anyOf), `${name} has no type`);
    assert.ok(typeof p.description === 'string' && p.description.length > 20, `${name} has no description`);
    assert.ok(p.default !== undefined, `${name} has no default`);
  }
  for (const name of ['program', 'vm', 'stopOnEntry', 'technique', 'vcpus', 'paging', 'breakOnExits', 'console', 'mode', 'org', 'maxInstructions']) {
    assert.ok(properties[name], `missing attribute ${name}`);
  }
});

test('breakOnExits offers the exit filters the session knows, by number and by name, and nothing else', () => {
  const items = properties['breakOnExits']?.items;
  assert.ok(items);
  const [numbers, names] = items.anyOf;
  assert.ok(numbers && names);
  assert.deepEqual(numbers.enum, [...PRODUCED_EXIT_REASONS]);
  for (const n of PRODUCED_EXIT_REASONS) assert.ok(names.enum.includes(exitReason(n)?.name), `${n}`);
  for (const id of ['any', 'entry-failure', 'triple-fault']) assert.ok(names.enum.includes(id), id);
  for (const e of [...numbers.enum, ...names.enum]) assert.ok(filterIdFor(e as number | string) !== undefined, `the session does not take ${String(e)}`);
});

test('the vm attribute takes a path or an inline VM configuration without dangling $refs', () => {
  const vm = properties['vm'];
  assert.ok(vm?.anyOf);
  const text = JSON.stringify(vm);
  assert.ok(!text.includes('$ref'), 'a $ref inside launch.json schema would not resolve');
  assert.match(text, /"paging":\{"type":"string","enum":\["ept","shadow"\]/);
});

/** A snippet body's string values are snippet text: "^\"\\${file}\"" is the string "${file}". */
function fromSnippet(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    out[k] = typeof v === 'string' && v.startsWith('^') ? JSON.parse(v.slice(1).replace(/\\\$/g, '$')) : v;
  }
  return out;
}

/** Launch variables replaced the way VS Code would before the session sees them. */
function substitute(config: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(config).replace(/\$\{(file|workspaceFolder)\}/g, (_m, v: string) => (v === 'file' ? '/w/boot.asm' : '/w'))) as Record<string, unknown>;
}

test('snippets and the initial configuration parse and are valid launch configurations', () => {
  const snippets = debuggerEntry['configurationSnippets'] as { label: string; description: string; body: Record<string, unknown> }[];
  assert.ok(snippets.length >= 3);
  for (const s of snippets) {
    assert.match(s.label, /^Hyperstep: /);
    assert.ok(s.description.length > 10);
    const config = fromSnippet(s.body);
    assert.equal(config['type'], 'hyperstep');
    assert.equal(config['request'], 'launch');
    assert.equal(typeof config['name'], 'string');
    assert.match(String(config['program']), /^\$\{(file|workspaceFolder)\}/, s.label);
    assert.equal(launchConfigurationProblem(substitute(config)), undefined, s.label);
    for (const key of Object.keys(config)) assert.ok(['type', 'request', 'name'].includes(key) || properties[key], `${s.label}: unknown attribute ${key}`);
  }
  assert.deepEqual(debuggerEntry['initialConfigurations'], [INITIAL_CONFIGURATION]);
  assert.equal(launchConfigurationProblem(substitute(INITIAL_CONFIGURATION)), undefined);
});

test('commands, menus and views refer to each other consistently; files named exist', () => {
  const c = pkg.contributes;
  const declared = new Set(c.commands.map((x) => x.command));
  for (const [menu, items] of Object.entries(c.menus)) {
    for (const item of items) assert.ok(declared.has(item.command), `${menu} refers to undeclared ${item.command}`);
  }
  const run = c.menus['editor/title/run'] ?? [];
  assert.deepEqual(run.map((i) => i.command).sort(), ['hyperstep.debugGuest', 'hyperstep.runGuest']);
  for (const i of run) assert.equal(i.when, 'resourceLangId == nasm');
  for (const cmd of c.commands) {
    assert.equal(cmd.category, 'Hyperstep');
    if (run.some((i) => i.command === cmd.command)) assert.ok(cmd.icon, `${cmd.command} is in the title bar and needs an icon`);
  }
  assert.deepEqual(c.views['debug']?.map((v) => v.id), ['hyperstep.exits']);
  assert.ok(pkg.activationEvents.includes('onDebugDynamicConfigurations:hyperstep'));
  for (const v of c.jsonValidation) assert.ok(existsSync(v.url), v.url);
  for (const l of c.languages) assert.ok(existsSync(l.configuration), l.configuration);
  for (const g of c.grammars) assert.ok(existsSync(g.path), g.path);
});

test('activation registers exactly the declared commands and the declared view', async () => {
  // Imported here: activation pulls in the debug session and the whole engine.
  const { registerHyperstep } = await import('../../src/extension/registration');
  const fake = fakeVscode();
  const subscriptions: { dispose(): unknown }[] = [];
  registerHyperstep(fake.api, { subscriptions });
  assert.deepEqual([...fake.state.commands.keys()].sort(), pkg.contributes.commands.map((c) => c.command).sort());
  assert.deepEqual([...fake.state.treeProviders.keys()], pkg.contributes.views['debug']?.map((v) => v.id));
  for (const s of subscriptions) s.dispose();
  assert.equal(fake.state.commands.size, 0, 'every command is disposed with the extension');
});
