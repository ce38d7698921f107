// Paths and URIs: a workspace may not be on disk (vscode-vfs://, remote).

import type * as vscodeApi from 'vscode';

/** A path, or a URI such as vscode-vfs://... when the workspace is not on disk. */
export function toUri(vscode: typeof vscodeApi, pathOrUri: string): vscodeApi.Uri {
  return /^[a-z][a-z0-9+.-]+:\/\//i.test(pathOrUri) ? vscode.Uri.parse(pathOrUri, true) : vscode.Uri.file(pathOrUri);
}
