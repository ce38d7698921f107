// package.json's contributions: the generated debugger entry is current, every
// launch attribute is described, snippets are valid launch configurations,
// what is declared (commands, views, menus) is what activation registers, and
// the walkthrough's pages, buttons and completion events hold together.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { buildDebuggerContribution, LAUNCH_ATTRIBUTES, INITIAL_CONFIGURATION, REFINED_ATTRIBUTES } from '../../src/extension/launchSchema';
import { LAUNCH_ATTRIBUTES as SESSION_ATTRIBUTES } from '../../src/debug/launchConfig';
import { filterIdFor, PRODUCED_EXIT_REASONS } from '../../src/debug/runtimeExits';
import { launchConfigurationProblem } from '../../src/extension/launchValidation';
import { exitReason } from '../../src/vmm/vmx/exit-reasons';
import { fakeVscode } from './fakeVscode';
import { EXAMPLES, exampleById, exampleLaunch } from '../../src/extension/examples';
import { exampleOverrides } from '../../src/extension/exampleCommands';
import { READ_VMCS_CONTEXT, STOPPED_AT_EXIT_CONTEXT } from '../../src/extension/walkthrough';

interface Command { command: string; title: string; category?: string; icon?: string }
interface MenuItem { command: string; when?: string; group?: string }
interface WalkthroughStep { id: string; title: string; description: string; media: { markdown?: string; image?: string; svg?: string; altText?: string }; completionEvents?: string[] }
interface Pkg {
  activationEvents: string[];
  contributes: {
    walkthroughs: { id: string; title: string; description: string; steps: WalkthroughStep[] }[];
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

/** VS Code's own commands the walkthrough links to. */
const BUILT_IN_COMMANDS = new Set(['workbench.debug.action.focusVariablesView']);

/** Every command link in a text: the command and its decoded JSON arguments. */
function commandLinks(text: string): { command: string; args: unknown[] }[] {
  return [...text.matchAll(/\(command:([\w.]+)(?:\?([^)\s]*))?\)/g)].map((m) => {
    const args = m[2] === undefined ? [] : (JSON.parse(decodeURIComponent(m[2])) as unknown);
    assert.ok(Array.isArray(args), `command:${m[1]} takes its arguments as a JSON array`);
    return { command: m[1] as string, args };
  });
}

test('the walkthrough: media files exist, command links name declared commands with valid arguments, completion events can happen', () => {
  const declared = new Set(pkg.contributes.commands.map((c) => c.command));
  const [walkthrough, ...others] = pkg.contributes.walkthroughs;
  assert.equal(others.length, 0);
  assert.ok(walkthrough);
  assert.equal(walkthrough.title, 'Get started with Hyperstep');
  assert.deepEqual(walkthrough.steps.map((st) => st.id), ['openExample', 'exitBreakpoint', 'readVmcs', 'comparePaging', 'compareTechniques']);
  const contexts = new Set([STOPPED_AT_EXIT_CONTEXT, READ_VMCS_CONTEXT]);
  for (const step of walkthrough.steps) {
    const media = step.media.markdown ?? step.media.image ?? step.media.svg;
    assert.ok(media !== undefined && media.startsWith('media/walkthrough/') && existsSync(media), `${step.id}: media ${media}`);
    if (step.media.image !== undefined) assert.ok((step.media.altText ?? '').length > 20, `${step.id}: an image needs alt text`);
    let text = step.description;
    if (step.media.markdown !== undefined) {
      const page = readFileSync(step.media.markdown, 'utf8');
      text += page;
      for (const [, src] of page.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)) assert.ok(existsSync(`media/walkthrough/${src}`), `${step.media.markdown} shows ${src}`);
    }
    const links = commandLinks(text);
    assert.ok(links.length > 0, `${step.id} has a button`);
    for (const { command, args } of links) {
      assert.ok(declared.has(command) || BUILT_IN_COMMANDS.has(command), `${step.id} links to unknown command ${command}`);
      if (command === 'hyperstep.openExample' || command === 'hyperstep.debugExample' || command === 'hyperstep.comparePaging') {
        if (args.length === 0) continue;
        const example = exampleById(String(args[0]));
        assert.ok(example, `${step.id}: no example ${String(args[0])}`);
        if (args[1] !== undefined) assert.ok(exampleLaunch(example, String(args[1])), `${step.id}: ${example.id} has no launch ${String(args[1])}`);
        if (args[2] !== undefined) assert.deepEqual(exampleOverrides(args[2]), args[2], `${step.id}: every override is understood`);
      } else {
        assert.deepEqual(args, [], `${command} takes no arguments here`);
      }
    }
    assert.ok((step.completionEvents ?? []).length > 0, `${step.id} can be completed`);
    for (const e of step.completionEvents ?? []) {
      const [kind, what] = [e.slice(0, e.indexOf(':')), e.slice(e.indexOf(':') + 1)];
      if (kind === 'onCommand') assert.ok(declared.has(what), `${step.id}: ${e}`);
      else if (kind === 'onContext') for (const key of what.split('&&').map((k) => k.trim())) assert.ok(contexts.has(key), `${step.id}: nothing sets ${key}`);
      else assert.fail(`${step.id}: unexpected completion event ${e}`);
    }
  }
  // The walkthrough's first step copies an example that ships.
  assert.ok(EXAMPLES.some((e) => e.id === 'cpuid-hlt-io-msr'));
});

test('activation registers exactly the declared commands and the declared view', async () => {
  // Imported here: activation pulls in the debug session and the whole engine.
  const { registerHyperstep } = await import('../../src/extension/registration');
  const fake = fakeVscode();
  const subscriptions: { dispose(): unknown }[] = [];
  registerHyperstep(fake.api, { subscriptions });
  assert.deepEqual([...fake.state.commands.keys()].sort(), pkg.contributes.commands.map((c) => c.command).sort());
  assert.deepEqual([...fake.state.treeProviders.keys()], pkg.contributes.views['debug']?.map((v) => v.id));
  assert.ok(fake.state.trackerFactories.has('hyperstep'), 'the walkthrough\'s progress tracker');
  for (const s of subscriptions) s.dispose();
  assert.equal(fake.state.commands.size, 0, 'every command is disposed with the extension');
});
