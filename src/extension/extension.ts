// Extension entry point: registers the `hyperstep` debug type (a
// configuration provider that fills in a launch for the open .asm file, and
// an adapter factory that runs the debug session inline in the extension
// host). This layer is the only one that imports `vscode`.

import * as vscode from 'vscode';
import { registerHyperstep } from './registration';

export function activate(context: vscode.ExtensionContext): void {
  registerHyperstep(vscode, context);
}

export function deactivate(): void {
  // Sessions end with their debug sessions; nothing else is held.
}
