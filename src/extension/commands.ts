// The Run Guest / Debug Guest commands (editor title Run menu and command
// palette): start a session for the given or the active NASM file.

import type * as vscodeApi from 'vscode';
import { guestLaunchConfiguration, isGuestSource } from './configuration';

export type VscodeApi = typeof vscodeApi;

export const DEBUG_GUEST_COMMAND = 'hyperstep.debugGuest';
export const RUN_GUEST_COMMAND = 'hyperstep.runGuest';

async function startGuest(vscode: VscodeApi, resource: vscodeApi.Uri | undefined, noDebug: boolean): Promise<boolean> {
  const editor = vscode.window.activeTextEditor;
  const uri = resource ?? editor?.document.uri;
  const same = (d: vscodeApi.TextDocument): boolean => uri !== undefined && d.uri.toString() === uri.toString();
  const doc = vscode.workspace.textDocuments.find(same) ?? (editor && same(editor.document) ? editor.document : undefined);
  if (!uri || (doc && !isGuestSource(doc)) || (!doc && !/\.(asm|nasm)$/i.test(uri.path))) {
    void vscode.window.showErrorMessage('Open a NASM .asm file to run or debug it as a Hyperstep guest.');
    return false;
  }
  if (doc?.isUntitled) {
    void vscode.window.showErrorMessage('Save the guest source to a file first: the session assembles it from the workspace.');
    return false;
  }
  // The session reads the program from the file system: unsaved edits would be missed.
  if (doc?.isDirty) await doc.save();
  // Files outside the local disk (remote, virtual workspaces) go by URI; the session's file accessor takes both.
  const config = guestLaunchConfiguration(uri.scheme === 'file' ? uri.fsPath : uri.toString(), noDebug);
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  return vscode.debug.startDebugging(folder, config as vscodeApi.DebugConfiguration, { noDebug });
}

export function registerGuestCommands(vscode: VscodeApi, subscriptions: vscodeApi.Disposable[]): void {
  subscriptions.push(
    vscode.commands.registerCommand(DEBUG_GUEST_COMMAND, (resource?: vscodeApi.Uri) => startGuest(vscode, resource, false)),
    vscode.commands.registerCommand(RUN_GUEST_COMMAND, (resource?: vscodeApi.Uri) => startGuest(vscode, resource, true)),
  );
}
