// Where the language features get a source file's text from.

import type * as vscodeApi from 'vscode';
import { toUri } from '../uri';
import { toPosixPath, type ReadText } from './diagnostics';

/**
 * An open document's (unsaved) text, else the file through workspace.fs;
 * undefined when neither has it.
 */
export function workspaceSourceReader(vscode: typeof vscodeApi): ReadText {
  return async (path: string) => {
    const open = vscode.workspace.textDocuments.find((d) => toPosixPath(d.fileName) === path);
    if (open) return open.getText();
    try {
      return new TextDecoder().decode(await vscode.workspace.fs.readFile(toUri(vscode, path)));
    } catch {
      return undefined;
    }
  };
}
