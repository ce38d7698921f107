// What activation registers: for the `hyperstep` debug type the
// configuration providers and the inline adapter factory, then the guest
// commands, the example commands and the walkthrough's progress, the NASM
// language features and the Hyperstep view. The same code runs in the desktop
// extension host and, bundled for the browser, in VS Code for the Web. The vscode API
// arrives as a parameter (the import below is for types only), so tests can
// run this against a stand-in for the API.

import type * as vscodeApi from 'vscode';
import { HyperstepSession } from '../debug/session';
import type { FileAccessor } from '../debug/fileAccessor';
import { DEBUG_TYPE, dynamicConfigurations, resolveLaunchConfiguration, type ActiveDocument, type DebugConfigurationLike } from './configuration';
import { launchConfigurationProblem } from './launchValidation';
import { registerGuestCommands } from './commands';
import { registerCompareCommand } from './compareCommand';
import { registerExitsView, type ExitsView } from './exitsView';
import { registerAsmDiagnostics, type AsmDiagnostics } from './language/diagnostics';
import { workspaceSourceReader } from './language/sourceReader';
import { registerLanguageProviders, type LanguageProviders } from './language/providers';
import { registerExampleCommands } from './exampleCommands';
import { registerWalkthroughProgress } from './walkthrough';
import { toUri } from './uri';

export { toUri } from './uri';

export type VscodeApi = typeof vscodeApi;

/**
 * The session's files in the extension host: workspace.fs serves local,
 * remote and virtual workspaces alike. In a virtual workspace (vscode.dev
 * over a repository) launch variables such as ${workspaceFolder} expand to a
 * bare path (/owner/repo/guest.asm); a path that is not on a file system is
 * then looked up in the workspace folders that are not on disk.
 */
export function workspaceFileAccessor(vscode: VscodeApi): FileAccessor {
  return {
    async readFile(path: string): Promise<Uint8Array> {
      const uri = toUri(vscode, path);
      try {
        return await vscode.workspace.fs.readFile(uri);
      } catch (e) {
        if (uri.scheme !== 'file') throw e;
        for (const folder of vscode.workspace.workspaceFolders ?? []) {
          if (folder.uri.scheme === 'file') continue;
          try {
            return await vscode.workspace.fs.readFile(folder.uri.with({ path: uri.path }));
          } catch {
            // not in this folder
          }
        }
        throw e;
      }
    },
  };
}

/**
 * In a workspace that is not on disk (vscode.dev, a browser connected to a remote), launch
 * variables expand to bare paths. The session would report its sources by those paths, which
 * the workbench then looks for on a local disk it does not have: a bare absolute `program` or
 * `vm` becomes the workspace folder's URI with that path, so sources, breakpoints and files all
 * go by URI.
 */
export function withWorkspaceUris<T extends Record<string, unknown>>(folder: Pick<vscodeApi.WorkspaceFolder, 'uri'> | undefined, config: T): T {
  if (folder === undefined || folder.uri.scheme === 'file') return config;
  const map = (v: unknown): unknown => (typeof v === 'string' && v.startsWith('/') && !v.startsWith('//') ? folder.uri.with({ path: v }).toString() : v);
  return { ...config, program: map(config['program']), ...(config['vm'] !== undefined ? { vm: map(config['vm']) } : {}) };
}

export interface RegistrationOptions {
  /** Debounce of live diagnostics after an edit, in ms. */
  diagnosticsDelayMs?: number;
}

/** What activation set up, for tests. */
export interface Registered {
  diagnostics: AsmDiagnostics;
  language: LanguageProviders;
  exits: ExitsView;
}

function activeDocument(vscode: VscodeApi): ActiveDocument | undefined {
  const editor = vscode.window.activeTextEditor;
  return editor ? { fileName: editor.document.fileName, languageId: editor.document.languageId } : undefined;
}

export function registerHyperstep(
  vscode: VscodeApi,
  context: Pick<vscodeApi.ExtensionContext, 'subscriptions'> & Partial<Pick<vscodeApi.ExtensionContext, 'extensionUri'>>,
  options: RegistrationOptions = {},
): Registered {
  const files = workspaceFileAccessor(vscode);
  const subscriptions = context.subscriptions;

  const refuse = (message: string): undefined => {
    void vscode.window.showErrorMessage(message);
    // undefined cancels the launch (null would open launch.json instead).
    return undefined;
  };

  const configurations: vscodeApi.DebugConfigurationProvider = {
    resolveDebugConfiguration(_folder, config) {
      const result = resolveLaunchConfiguration(config as DebugConfigurationLike, activeDocument(vscode));
      if ('error' in result) return refuse(result.error);
      return result.config as vscodeApi.DebugConfiguration;
    },
    // After ${file} and friends are substituted: the values the session will get.
    resolveDebugConfigurationWithSubstitutedVariables(folder, config) {
      const problem = launchConfigurationProblem(config);
      if (problem) return refuse(`Launch configuration "${config.name}": ${problem}`);
      return withWorkspaceUris(folder ?? vscode.workspace.workspaceFolders?.[0], config);
    },
  };

  const dynamic: vscodeApi.DebugConfigurationProvider = {
    provideDebugConfigurations() {
      const open = vscode.workspace.textDocuments.map((d) => ({ fileName: d.fileName, languageId: d.languageId }));
      return dynamicConfigurations(activeDocument(vscode), open) as vscodeApi.DebugConfiguration[];
    },
  };

  const adapters: vscodeApi.DebugAdapterDescriptorFactory = {
    // Inline: the session runs in the extension host, no process is spawned.
    createDebugAdapterDescriptor() {
      return new vscode.DebugAdapterInlineImplementation(new HyperstepSession(files));
    },
  };

  subscriptions.push(
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, configurations),
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, dynamic, vscode.DebugConfigurationProviderTriggerKind.Dynamic),
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, adapters),
  );
  registerGuestCommands(vscode, subscriptions);
  registerCompareCommand(vscode, subscriptions, files);
  registerExampleCommands(vscode, subscriptions, context.extensionUri, files);
  registerWalkthroughProgress(vscode, subscriptions);
  const read = workspaceSourceReader(vscode);
  const diagnostics = registerAsmDiagnostics(vscode, subscriptions, read, { delayMs: options.diagnosticsDelayMs ?? 300 });
  const language = registerLanguageProviders(vscode, subscriptions, read, (uri) => diagnostics.symbols.get(uri));
  const exits = registerExitsView(vscode, subscriptions);
  return { diagnostics, language, exits };
}
