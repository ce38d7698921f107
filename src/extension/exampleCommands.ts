// The example guests in the editor: "Open Example Guest" copies an example
// that ships in the extension (examples/ in the .vsix) into the workspace,
// adds its launch configurations and opens it; "Debug Example Guest" starts
// one of those launches; "Compare EPT and Shadow Paging" runs a guest under
// both and shows the VMM's work side by side. The walkthrough's buttons call
// these with an example id.

import type * as vscodeApi from 'vscode';
import { EXAMPLES, EXAMPLES_FOLDER, exampleById, exampleConfiguration, exampleLaunch, launchName, type Example } from './examples';
import { comparePaging, formatPagingMarkdown } from './pagingCompare';
import type { FileAccessor } from '../debug/fileAccessor';
import { LaunchError } from '../debug/launchConfig';

export type VscodeApi = typeof vscodeApi;

export const OPEN_EXAMPLE_COMMAND = 'hyperstep.openExample';
export const DEBUG_EXAMPLE_COMMAND = 'hyperstep.debugExample';
export const COMPARE_PAGING_COMMAND = 'hyperstep.comparePaging';

/** Launch attributes the walkthrough may set when it starts an example. */
export interface ExampleOverrides {
  noDebug?: boolean;
  stopOnEntry?: boolean;
  breakOnExits?: (number | string)[];
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

async function exists(vscode: VscodeApi, uri: vscodeApi.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}

/**
 * A file of the extension: through workspace.fs (the desktop, and remote
 * extension hosts), else over HTTP (a web extension's files are served from
 * its location, which no file system provider may cover).
 */
async function readExtensionFile(vscode: VscodeApi, uri: vscodeApi.Uri): Promise<Uint8Array> {
  try {
    return await vscode.workspace.fs.readFile(uri);
  } catch (e) {
    if (!/^https?$/.test(uri.scheme)) throw e;
    const response = await fetch(uri.toString(true));
    if (!response.ok) throw new Error(`${uri.toString(true)}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }
}

/** Copies the example's files into `target`, leaving files that are already there alone. */
async function copyExample(vscode: VscodeApi, extensionUri: vscodeApi.Uri, example: Example, target: vscodeApi.Uri): Promise<void> {
  await vscode.workspace.fs.createDirectory(target);
  for (const file of example.files) {
    const to = vscode.Uri.joinPath(target, file);
    if (await exists(vscode, to)) continue;
    const bytes = await readExtensionFile(vscode, vscode.Uri.joinPath(extensionUri, 'examples', example.id, file));
    await vscode.workspace.fs.writeFile(to, bytes);
  }
}

/** How the session names a file: a path on disk, else the URI (remote and virtual workspaces). */
function sessionPath(uri: vscodeApi.Uri): string {
  return uri.scheme === 'file' ? uri.fsPath : uri.toString();
}

function launchConfigurations(example: Example, folderPath: string): Record<string, unknown>[] {
  return example.launches.map((l) => exampleConfiguration(example, l, folderPath));
}

/** Adds the example's launches to the folder's launch.json, keeping what is there; returns the names added. */
async function addLaunches(vscode: VscodeApi, folder: vscodeApi.WorkspaceFolder, example: Example): Promise<string[]> {
  const launch = vscode.workspace.getConfiguration('launch', folder.uri);
  const existing = launch.get<Record<string, unknown>[]>('configurations') ?? [];
  const names = new Set(existing.map((c) => c['name']));
  const added = launchConfigurations(example, `\${workspaceFolder}/${EXAMPLES_FOLDER}/${example.id}`).filter((c) => !names.has(c['name']));
  if (added.length === 0) return [];
  await launch.update('configurations', [...existing, ...added], vscode.ConfigurationTarget.WorkspaceFolder);
  return added.map((c) => String(c['name']));
}

/** A workspace folder the example can be copied into: the active editor's, else the first writable one. */
function targetFolder(vscode: VscodeApi): vscodeApi.WorkspaceFolder | undefined {
  const folders = vscode.workspace.workspaceFolders ?? [];
  const writable = (f: vscodeApi.WorkspaceFolder): boolean => vscode.workspace.fs.isWritableFileSystem(f.uri.scheme) !== false;
  const active = vscode.window.activeTextEditor?.document.uri;
  const own = active !== undefined ? vscode.workspace.getWorkspaceFolder(active) : undefined;
  if (own !== undefined && writable(own)) return own;
  return folders.find(writable);
}

async function pickExample(vscode: VscodeApi, placeHolder: string): Promise<Example | undefined> {
  const items = EXAMPLES.map((e) => ({ label: e.title, description: e.id, detail: e.detail, example: e }));
  const picked = await vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true, matchOnDetail: true });
  return picked?.example;
}

async function exampleArgument(vscode: VscodeApi, id: unknown, placeHolder: string): Promise<Example | undefined> {
  if (typeof id !== 'string') return pickExample(vscode, placeHolder);
  const example = exampleById(id);
  if (example === undefined) void vscode.window.showErrorMessage(`There is no Hyperstep example "${id}". Examples: ${EXAMPLES.map((e) => e.id).join(', ')}.`);
  return example;
}

/** The overrides a command link passes (JSON from a URI), keeping only well-typed ones. */
export function exampleOverrides(given: unknown): ExampleOverrides {
  if (typeof given !== 'object' || given === null) return {};
  const g = given as Record<string, unknown>;
  const out: ExampleOverrides = {};
  if (typeof g['noDebug'] === 'boolean') out.noDebug = g['noDebug'];
  if (typeof g['stopOnEntry'] === 'boolean') out.stopOnEntry = g['stopOnEntry'];
  const exits = g['breakOnExits'];
  if (Array.isArray(exits) && exits.every((e) => typeof e === 'number' || typeof e === 'string')) out.breakOnExits = exits as (number | string)[];
  return out;
}

export interface ExampleCommands {
  /** Where each example was copied in this window. */
  readonly copies: Map<string, vscodeApi.Uri>;
  /** The copy of an example in the workspace (copying it first when there is none); undefined if that failed or was cancelled. */
  locate(example: Example): Promise<vscodeApi.Uri | undefined>;
}

export function registerExampleCommands(
  vscode: VscodeApi,
  subscriptions: vscodeApi.Disposable[],
  extensionUri: vscodeApi.Uri | undefined,
  files: FileAccessor,
): ExampleCommands {
  const copies = new Map<string, vscodeApi.Uri>();

  /** Copies the example and opens it; the copy's folder, or undefined. */
  const open = async (example: Example): Promise<vscodeApi.Uri | undefined> => {
    if (extensionUri === undefined) {
      void vscode.window.showErrorMessage('Hyperstep cannot find its own files to copy the example from.');
      return undefined;
    }
    const folder = targetFolder(vscode);
    try {
      if (folder !== undefined) {
        const target = vscode.Uri.joinPath(folder.uri, EXAMPLES_FOLDER, example.id);
        await copyExample(vscode, extensionUri, example, target);
        copies.set(example.id, target);
        const added = await addLaunches(vscode, folder, example);
        await vscode.window.showTextDocument(vscode.Uri.joinPath(target, example.open));
        void vscode.window.showInformationMessage(
          `Example "${example.id}" is in ${EXAMPLES_FOLDER}/${example.id}` +
            (added.length > 0 ? `; launch.json has ${added.map((n) => `"${n}"`).join(', ')}.` : '.'),
        );
        return target;
      }
      // No folder open (or none writable): copy into a folder the user picks and open it.
      const chosen = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Copy Example Here', title: `Where to copy the "${example.id}" example` });
      if (chosen === undefined || chosen.length === 0) return undefined;
      const target = vscode.Uri.joinPath(chosen[0], example.id);
      await copyExample(vscode, extensionUri, example, target);
      const launchJson = vscode.Uri.joinPath(target, '.vscode', 'launch.json');
      if (!(await exists(vscode, launchJson))) {
        const text = JSON.stringify({ version: '0.2.0', configurations: launchConfigurations(example, '${workspaceFolder}') }, null, 2) + '\n';
        await vscode.workspace.fs.writeFile(launchJson, new TextEncoder().encode(text));
      }
      copies.set(example.id, target);
      await vscode.commands.executeCommand('vscode.openFolder', target);
      return target;
    } catch (e) {
      void vscode.window.showErrorMessage(`Could not copy the example "${example.id}": ${errorText(e)}`);
      return undefined;
    }
  };

  const locate = async (example: Example): Promise<vscodeApi.Uri | undefined> => {
    const main = example.launches[0]?.program ?? example.open;
    const candidates = [
      ...(copies.has(example.id) ? [copies.get(example.id) as vscodeApi.Uri] : []),
      ...(vscode.workspace.workspaceFolders ?? []).flatMap((f) => [vscode.Uri.joinPath(f.uri, EXAMPLES_FOLDER, example.id), ...(f.name === example.id ? [f.uri] : [])]),
    ];
    for (const c of candidates) if (await exists(vscode, vscode.Uri.joinPath(c, main))) return c;
    return open(example);
  };

  const debugExample = async (id?: unknown, label?: unknown, given?: unknown): Promise<boolean> => {
    const overrides = exampleOverrides(given);
    const example = await exampleArgument(vscode, id, 'Example guest to debug');
    if (example === undefined) return false;
    const launch = exampleLaunch(example, typeof label === 'string' ? label : undefined);
    if (launch === undefined) {
      void vscode.window.showErrorMessage(`The example "${example.id}" has no launch "${String(label)}": ${example.launches.map((l) => l.label).join(', ')}.`);
      return false;
    }
    const copy = await locate(example);
    if (copy === undefined) return false;
    const config: Record<string, unknown> = { ...exampleConfiguration(example, launch, sessionPath(copy)), name: launchName(example, launch) };
    if (overrides.breakOnExits !== undefined) config['breakOnExits'] = overrides.breakOnExits;
    if (overrides.stopOnEntry !== undefined) config['stopOnEntry'] = overrides.stopOnEntry;
    const noDebug = overrides.noDebug === true;
    if (noDebug) {
      config['noDebug'] = true;
      config['stopOnEntry'] = false;
    }
    await vscode.window.showTextDocument(vscode.Uri.joinPath(copy, launch.program));
    return vscode.debug.startDebugging(vscode.workspace.getWorkspaceFolder(copy), config as vscodeApi.DebugConfiguration, { noDebug });
  };

  /** The guest to compare and its VM configuration: an example id, a file, or the active editor. */
  const pagingTarget = async (arg: unknown): Promise<{ program: vscodeApi.Uri; vm?: string } | undefined> => {
    if (typeof arg === 'string') {
      const example = await exampleArgument(vscode, arg, '');
      if (example === undefined) return undefined;
      const copy = await locate(example);
      const launch = example.launches[0];
      if (copy === undefined || launch === undefined) return undefined;
      await vscode.window.showTextDocument(vscode.Uri.joinPath(copy, launch.program));
      return { program: vscode.Uri.joinPath(copy, launch.program), ...(launch.vm !== undefined ? { vm: launch.vm } : {}) };
    }
    const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    if (uri === undefined || !/\.(asm|nasm)$/i.test(uri.path)) {
      void vscode.window.showErrorMessage('Open a NASM .asm guest to compare EPT and shadow paging on it.');
      return undefined;
    }
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (doc?.isDirty) await doc.save();
    // A vm.json beside the guest is its VM configuration (as in the examples); its paging is overridden.
    const vmJson = vscode.Uri.joinPath(uri, '..', 'vm.json');
    return { program: uri, ...((await exists(vscode, vmJson)) ? { vm: 'vm.json' } : {}) };
  };

  const comparePagingCommand = async (arg?: unknown): Promise<boolean> => {
    const target = await pagingTarget(arg);
    if (target === undefined) return false;
    const program = sessionPath(target.program);
    let markdown: string | undefined;
    try {
      markdown = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Hyperstep: EPT vs. shadow paging', cancellable: true },
        async (p, token) => {
          const result = await comparePaging(files, program, {
            ...(target.vm !== undefined ? { vm: target.vm } : {}),
            cancelled: () => token.isCancellationRequested,
            progress: (m) => p.report({ message: `running under ${m}`, increment: 50 }),
          });
          const name = target.program.path.split('/').pop() ?? program;
          return result === undefined ? undefined : formatPagingMarkdown(result, `EPT vs. shadow paging: ${name}`);
        },
      );
    } catch (e) {
      void vscode.window.showErrorMessage(`Compare EPT and shadow paging: ${e instanceof LaunchError ? e.message : errorText(e)}`);
      return false;
    }
    if (markdown === undefined) return false;
    const shown = await vscode.workspace.openTextDocument({ language: 'markdown', content: markdown });
    await vscode.commands.executeCommand('markdown.showPreview', shown.uri);
    return true;
  };

  subscriptions.push(
    vscode.commands.registerCommand(OPEN_EXAMPLE_COMMAND, async (id?: unknown) => {
      const example = await exampleArgument(vscode, id, 'Example guest to copy into the workspace');
      return example === undefined ? undefined : open(example);
    }),
    vscode.commands.registerCommand(DEBUG_EXAMPLE_COMMAND, debugExample),
    vscode.commands.registerCommand(COMPARE_PAGING_COMMAND, comparePagingCommand),
  );
  return { copies, locate };
}
