// What activation registers for the `hyperstep` debug type. The vscode API
// arrives as a parameter (the import below is for types only), so tests can
// run this against a stand-in for the API.

import type * as vscodeApi from 'vscode';
import { HyperstepSession } from '../debug/session';
import type { FileAccessor } from '../debug/fileAccessor';
import { DEBUG_TYPE, resolveLaunchConfiguration, type DebugConfigurationLike } from './configuration';

export type VscodeApi = typeof vscodeApi;

/** A path, or a URI such as vscode-vfs://... when the workspace is not on disk. */
export function toUri(vscode: VscodeApi, pathOrUri: string): vscodeApi.Uri {
  return /^[a-z][a-z0-9+.-]+:\/\//i.test(pathOrUri) ? vscode.Uri.parse(pathOrUri, true) : vscode.Uri.file(pathOrUri);
}

/** The session's files in the extension host: workspace.fs serves local, remote and virtual workspaces alike. */
export function workspaceFileAccessor(vscode: VscodeApi): FileAccessor {
  return {
    async readFile(path: string): Promise<Uint8Array> {
      return vscode.workspace.fs.readFile(toUri(vscode, path));
    },
  };
}

export function registerHyperstep(vscode: VscodeApi, context: Pick<vscodeApi.ExtensionContext, 'subscriptions'>): void {
  const files = workspaceFileAccessor(vscode);

  const configurations: vscodeApi.DebugConfigurationProvider = {
    resolveDebugConfiguration(_folder, config) {
      const editor = vscode.window.activeTextEditor;
      const active = editor ? { fileName: editor.document.fileName, languageId: editor.document.languageId } : undefined;
      const result = resolveLaunchConfiguration(config as DebugConfigurationLike, active);
      if ('error' in result) {
        void vscode.window.showErrorMessage(result.error);
        // undefined cancels the launch (null would open launch.json instead).
        return undefined;
      }
      return result.config as vscodeApi.DebugConfiguration;
    },
  };

  const adapters: vscodeApi.DebugAdapterDescriptorFactory = {
    // Inline: the session runs in the extension host, no process is spawned.
    createDebugAdapterDescriptor() {
      return new vscode.DebugAdapterInlineImplementation(new HyperstepSession(files));
    },
  };

  context.subscriptions.push(
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, configurations),
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, adapters),
  );
}
