// Node only (the browser harness bundles fakeVscode.ts, so this is apart from it).
import NodeModule from 'node:module';

/**
 * Runs `body` while `require('vscode')` (what a bundle does, `vscode` being
 * external) answers with the stand-in API; the module loader is put back after.
 */
export function withVscodeModule<T>(api: unknown, body: () => T): T {
  const loader = NodeModule as unknown as { _load(request: string, ...rest: unknown[]): unknown };
  const original = loader._load;
  loader._load = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? api : original.call(this, request, ...rest);
  };
  try {
    return body();
  } finally {
    loader._load = original;
  }
}
