// The bundled extension (dist/extension.js, what VS Code loads) activates
// against the stand-in API: `vscode` stays external and everything else is
// inside the bundle. `npm test` builds before testing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fakeVscode } from './fakeVscode';
import { withVscodeModule } from './vscodeModule';

const bundle = resolve('dist/extension.js');

test('dist/extension.js activates and registers what package.json declares', { skip: existsSync(bundle) ? false : 'dist/extension.js is not built (npm run build)' }, () => {
  const fake = fakeVscode();
  withVscodeModule(fake.api, () => {
    const ext = createRequire(import.meta.url)(bundle) as { activate(context: { subscriptions: { dispose(): unknown }[] }): void; deactivate(): void };
    const subscriptions: { dispose(): unknown }[] = [];
    ext.activate({ subscriptions });
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { contributes: { commands: { command: string }[] } };
    assert.deepEqual([...fake.state.commands.keys()].sort(), pkg.contributes.commands.map((c) => c.command).sort());
    assert.deepEqual(fake.state.configurationProviders.map((p) => p.type), ['hyperstep', 'hyperstep']);
    assert.ok(fake.state.factories.has('hyperstep'));
    assert.equal(fake.state.symbolProviders.length + fake.state.definitionProviders.length + fake.state.hoverProviders.length, 3);
    for (const s of subscriptions) s.dispose();
    ext.deactivate();
  });
});
