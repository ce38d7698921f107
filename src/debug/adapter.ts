// The stand-alone debug adapter: the Hyperstep session speaking DAP on
// stdin/stdout (or on a TCP port with --server=PORT), reading files with
// Node's fs. Bundled to dist/adapter.js; the extension normally runs the
// same session inline instead.

import { DebugSession } from '@vscode/debugadapter';
import { readFile } from 'node:fs/promises';
import type { FileAccessor } from './fileAccessor';
import { HyperstepSession } from './session';

export const nodeFileAccessor: FileAccessor = {
  async readFile(path: string): Promise<Uint8Array> {
    return new Uint8Array(await readFile(path));
  },
};

class StdioHyperstepSession extends HyperstepSession {
  constructor() {
    super(nodeFileAccessor);
  }
}

DebugSession.run(StdioHyperstepSession);
