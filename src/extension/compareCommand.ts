// "Hyperstep: Compare techniques": the open guest kernel (and its
// paravirtualized build, FILE-pv.asm next to it, when there is one) under
// every technique, as a Markdown preview of the table `hyperstep compare`
// prints. Runs in the extension host one technique at a time, with progress.

import type * as vscodeApi from 'vscode';
import { compareStepwise, formatCompareMarkdown, type CompareGuest, type CompareResult, TECHNIQUE_LABELS } from '../vmm/compare/index';
import { loadGuestProgram, type GuestProgram } from '../debug/guestProgram';
import { LaunchError, DEFAULT_MAX_INSTRUCTIONS } from '../debug/launchConfig';
import type { FileAccessor } from '../debug/fileAccessor';

export type VscodeApi = typeof vscodeApi;

export const COMPARE_COMMAND = 'hyperstep.compareTechniques';
/** Where a flat32 guest without an `org` loads (as `hyperstep run` and the debugger). */
const DEFAULT_ORG = 0x1000;

/** The paravirtualized build's path by convention: kernel.asm → kernel-pv.asm. */
export function pvSibling(path: string): string | undefined {
  if (/-pv\.(asm|nasm)$/i.test(path)) return undefined;
  return path.replace(/\.(asm|nasm)$/i, (ext) => `-pv${ext}`);
}

async function load(files: FileAccessor, path: string): Promise<GuestProgram> {
  return loadGuestProgram(files, { program: path, mode: 'flat32', maxInstructions: DEFAULT_MAX_INSTRUCTIONS, stopOnEntry: false });
}

const guestOf = (p: GuestProgram): CompareGuest => ({ image: p.bytes, org: p.origin ?? DEFAULT_ORG });

/** The comparison of `path` (and its -pv sibling if it exists) as Markdown; errors as a LaunchError with file:line. */
export async function compareMarkdown(
  files: FileAccessor,
  path: string,
  progress: (message: string, increment: number) => void = () => undefined,
  cancelled: () => boolean = () => false,
): Promise<string | undefined> {
  const guest = await load(files, path);
  const pvPath = pvSibling(path);
  let pv: GuestProgram | undefined;
  if (pvPath !== undefined) {
    try {
      await files.readFile(pvPath);
      pv = await load(files, pvPath);
    } catch (e) {
      // A missing sibling only skips the paravirt row; a sibling that does not assemble is an error worth seeing.
      if (e instanceof LaunchError && !/^Cannot read program/.test(e.message)) throw e;
    }
  }
  const steps = compareStepwise({ guest: guestOf(guest), ...(pv !== undefined ? { pv: guestOf(pv) } : {}) });
  let result: CompareResult;
  for (;;) {
    if (cancelled()) return undefined;
    const s = steps.next();
    if (s.done === true) {
      result = s.value;
      break;
    }
    progress(`${TECHNIQUE_LABELS[s.value]} done`, 100 / 6);
    // Let the extension host breathe between techniques.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const name = path.split(/[\\/]/).pop() ?? path;
  const title = `Techniques compared: ${name}${pv !== undefined ? ` (paravirtualized build: ${pvPath?.split(/[\\/]/).pop()})` : ''}`;
  return formatCompareMarkdown(result, title);
}

async function run(vscode: VscodeApi, files: FileAccessor, resource: vscodeApi.Uri | undefined): Promise<boolean> {
  const uri = resource ?? vscode.window.activeTextEditor?.document.uri;
  if (uri === undefined || !/\.(asm|nasm)$/i.test(uri.path)) {
    void vscode.window.showErrorMessage('Open a NASM .asm guest kernel to compare the virtualization techniques on it.');
    return false;
  }
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (doc?.isUntitled) {
    void vscode.window.showErrorMessage('Save the guest kernel to a file first: the comparison assembles it from the workspace.');
    return false;
  }
  if (doc?.isDirty) await doc.save();
  const path = uri.scheme === 'file' ? uri.fsPath : uri.toString();
  let markdown: string | undefined;
  try {
    markdown = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Hyperstep: comparing techniques', cancellable: true },
      (p, token) => compareMarkdown(files, path, (message, increment) => p.report({ message, increment }), () => token.isCancellationRequested),
    );
  } catch (e) {
    void vscode.window.showErrorMessage(`Compare techniques: ${e instanceof Error ? e.message : String(e)}`);
    return false;
  }
  if (markdown === undefined) return false;
  const shown = await vscode.workspace.openTextDocument({ language: 'markdown', content: markdown });
  await vscode.commands.executeCommand('markdown.showPreview', shown.uri);
  return true;
}

export function registerCompareCommand(vscode: VscodeApi, subscriptions: vscodeApi.Disposable[], files: FileAccessor): void {
  subscriptions.push(vscode.commands.registerCommand(COMPARE_COMMAND, (resource?: vscodeApi.Uri) => run(vscode, files, resource)));
}
