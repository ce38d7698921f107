// The "Hyperstep" view (recent VM exits and exit statistics; under a software
// technique the traps into the VMM, the virtualization holes and the VMM's
// statistics) and the status bar item, fed by the session's `hyperstep/*`
// custom events. The content is ExitsModel's; this file only maps it onto the
// vscode API.

import type * as vscodeApi from 'vscode';
import { DEBUG_TYPE } from './configuration';
import { ExitsModel, type RevealTarget, type TreeRow } from './exitsModel';
import type { ExitEventBody, HoleEventBody, TrapEventBody } from '../debug/protocol';

export type VscodeApi = typeof vscodeApi;

export const EXITS_VIEW = 'hyperstep.exits';
export const CLEAR_EXITS_COMMAND = 'hyperstep.exits.clear';
export const REVEAL_EXIT_COMMAND = 'hyperstep.exits.reveal';
/** Context key: the view has something to show, so it stays visible after the session ends. */
export const HAS_EXITS_CONTEXT = 'hyperstep.hasExits';

/** The top-level rows shown expanded. */
const ROOTS_EXPANDED: ReadonlySet<string> = new Set(['exits', 'stats', 'traps', 'holes']);

export class ExitsTreeProvider implements vscodeApi.TreeDataProvider<TreeRow> {
  private readonly emitter: vscodeApi.EventEmitter<TreeRow | undefined>;
  readonly onDidChangeTreeData: vscodeApi.Event<TreeRow | undefined>;

  private refresh: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly vscode: VscodeApi, private readonly model: ExitsModel, refreshMs = 100) {
    this.emitter = new vscode.EventEmitter<TreeRow | undefined>();
    this.onDidChangeTreeData = this.emitter.event;
    // A guest can exit thousands of times a second: redraw the tree at most every refreshMs.
    model.onDidChange(() => {
      if (this.refresh !== undefined) return;
      this.refresh = setTimeout(() => {
        this.refresh = undefined;
        this.emitter.fire(undefined);
      }, refreshMs);
    });
  }

  getChildren(row?: TreeRow): TreeRow[] {
    return row ? row.children ?? [] : this.model.rows();
  }

  getTreeItem(row: TreeRow): vscodeApi.TreeItem {
    const v = this.vscode;
    const state = row.children && row.children.length > 0
      ? ROOTS_EXPANDED.has(row.id) ? v.TreeItemCollapsibleState.Expanded : v.TreeItemCollapsibleState.Collapsed
      : v.TreeItemCollapsibleState.None;
    const item = new v.TreeItem(row.label, state);
    item.id = row.id;
    if (row.description !== undefined) item.description = row.description;
    if (row.tooltip !== undefined) item.tooltip = row.tooltip;
    if (row.icon) item.iconPath = new v.ThemeIcon(row.icon);
    if (row.exit) {
      const kind = kindOf(row.exit);
      item.contextValue = kind;
      item.command = { command: REVEAL_EXIT_COMMAND, title: kind === 'exit' ? 'Show Exit Location' : kind === 'trap' ? 'Show Trap Location' : 'Show Hole Location', arguments: [row.exit] };
    }
    return item;
  }

  dispose(): void {
    if (this.refresh !== undefined) clearTimeout(this.refresh);
    this.emitter.dispose();
  }
}

function isTrapBody(t: RevealTarget): t is TrapEventBody {
  return typeof (t as TrapEventBody).key === 'string' && typeof (t as TrapEventBody).seq === 'number';
}

function isHoleBody(t: RevealTarget): t is HoleEventBody {
  return typeof (t as HoleEventBody).instruction === 'string' && typeof (t as HoleEventBody).sequence === 'number' && typeof (t as ExitEventBody).reason !== 'number';
}

function kindOf(t: RevealTarget): 'exit' | 'trap' | 'hole' {
  return isTrapBody(t) ? 'trap' : isHoleBody(t) ? 'hole' : 'exit';
}

/** What the disassembly document of a place says about it, and where it is. */
interface PlaceText {
  /** Document name without extension: "exit-12", "trap-7", "hole-1". */
  name: string;
  /** The linear address to disassemble around. */
  address: number;
  header: string[];
  /** The marker after the instruction at the address. */
  marker: string;
  /** The message when there is neither source line nor session. */
  missing: string;
}

function placeText(t: RevealTarget): PlaceText {
  const at = (n: number): string => `0x${(n >>> 0).toString(16).toUpperCase()}`;
  if (isTrapBody(t)) {
    return {
      name: `trap-${t.seq}`,
      address: t.rip >>> 0,
      header: [`; trap #${t.seq} into the VMM: ${t.key} on vCPU ${t.vcpu} at ${at(t.rip)}${typeof t.cycles === 'number' ? `, ${t.cycles} modelled cycles` : ''}`],
      marker: '<- trap',
      missing: `Trap #${t.seq} (${t.key}) at ${at(t.rip)} has no source line.`,
    };
  }
  if (isHoleBody(t)) {
    return {
      name: `hole-${t.sequence}`,
      address: t.rip >>> 0,
      header: [`; virtualization hole #${t.sequence}: ${t.instruction} on vCPU ${t.vcpu} at ${at(t.rip)}`, ...(t.saw ? [`; the guest saw ${t.saw}`] : []), ...(t.expected ? [`; it expected ${t.expected}`] : []), ...(t.why ? [`; ${t.why}`] : [])],
      marker: '<- hole',
      missing: `Virtualization hole #${t.sequence} (${t.instruction}) at ${at(t.rip)} has no source line.`,
    };
  }
  return {
    name: `exit-${t.sequence}`,
    address: (t.linearRip ?? t.rip) >>> 0,
    header: [`; VM exit #${t.sequence} ${t.name} on vCPU ${t.vcpu} at RIP ${at(t.rip)}`, ...(t.summary ? [`; ${t.summary}`] : []), `; ${t.why}`],
    marker: '<- exit',
    missing: `VM exit #${t.sequence} at RIP ${at(t.rip)} has no source line.`,
  };
}

/**
 * Shows where an exit (a trap, a hole) happened: its source line when the
 * session mapped RIP to one, otherwise the Disassembly view of the running
 * session.
 */
export async function revealExit(vscode: VscodeApi, exit: RevealTarget): Promise<void> {
  if (exit.source) {
    const line = Math.max(0, exit.source.line - 1);
    const column = Math.max(0, (exit.source.column ?? 1) - 1);
    const uri = /^[a-z][a-z0-9+.-]+:\/\//i.test(exit.source.path) ? vscode.Uri.parse(exit.source.path, true) : vscode.Uri.file(exit.source.path);
    const doc = await vscode.workspace.openTextDocument(uri);
    const at = new vscode.Range(line, column, line, column);
    await vscode.window.showTextDocument(doc, { selection: at, preserveFocus: false });
    return;
  }
  const place = placeText(exit);
  const session = vscode.debug.activeDebugSession;
  if (session?.type === DEBUG_TYPE) {
    if (await showDisassembly(vscode, session, place)) return;
    // The session answers `disassemble` only while stopped: the Disassembly view at least shows where it is.
    await vscode.commands.executeCommand('debug.action.openDisassemblyView');
    return;
  }
  void vscode.window.showInformationMessage(place.missing);
}

/**
 * Disassembly around an exit opens as a read-only document of this scheme (no
 * save prompt on close; the live diagnostics leave it alone).
 */
export const EXIT_DOCUMENT_SCHEME = 'hyperstep-exit';
const exitDocuments = new Map<string, string>();
const MAX_EXIT_DOCUMENTS = 50;

interface DisassembledInstruction {
  address: string;
  instruction: string;
  instructionBytes?: string;
  symbol?: string;
}

/** Instructions shown before the exiting one, for context. */
const CONTEXT_BEFORE = 8;

/** The instructions around an exit's (trap's, hole's) RIP as a read-only NASM document, with that one selected. */
async function showDisassembly(vscode: VscodeApi, session: vscodeApi.DebugSession, place: PlaceText): Promise<boolean> {
  const address = place.address;
  let instructions: DisassembledInstruction[];
  try {
    const body = (await session.customRequest('disassemble', {
      memoryReference: `gva:0x${address.toString(16)}`,
      instructionOffset: -CONTEXT_BEFORE,
      instructionCount: 2 * CONTEXT_BEFORE + 1,
      resolveSymbols: true,
    })) as { instructions?: DisassembledInstruction[] } | undefined;
    instructions = body?.instructions ?? [];
  } catch {
    return false;
  }
  if (instructions.length === 0) return false;
  const lines = [...place.header, ''];
  let at = -1;
  for (const insn of instructions) {
    if (insn.symbol) lines.push(`${insn.symbol}:`);
    const here = parseInt(insn.address, 16) === address || Number(insn.address) === address;
    if (here && at < 0) at = lines.length;
    const bytes = insn.instructionBytes ? `  ${insn.instructionBytes}` : '';
    lines.push(`    ${insn.instruction.padEnd(32)}; ${insn.address}${bytes}${here ? `  ${place.marker}` : ''}`);
  }
  const uri = vscode.Uri.parse(`${EXIT_DOCUMENT_SCHEME}:/${place.name}.asm`);
  exitDocuments.set(uri.toString(), lines.join('\n') + '\n');
  if (exitDocuments.size > MAX_EXIT_DOCUMENTS) exitDocuments.delete(exitDocuments.keys().next().value ?? '');
  const doc = await vscode.workspace.openTextDocument(uri);
  const line = at < 0 ? 0 : at;
  await vscode.window.showTextDocument(doc, { selection: new vscode.Range(line, 0, line, 0), preview: true });
  return true;
}

export interface ExitsView {
  model: ExitsModel;
  tree: ExitsTreeProvider;
  view: vscodeApi.TreeView<TreeRow>;
  status: vscodeApi.StatusBarItem;
}

export function registerExitsView(vscode: VscodeApi, subscriptions: vscodeApi.Disposable[]): ExitsView {
  const model = new ExitsModel();
  const tree = new ExitsTreeProvider(vscode, model);
  const view = vscode.window.createTreeView(EXITS_VIEW, { treeDataProvider: tree });
  // Beside the title: which technique the view shows (VM exits under VT-x, traps into the VMM otherwise).
  const updateDescription = (): void => {
    const description = model.viewDescription();
    if (view.description !== description) view.description = description;
  };
  model.onDidChange(updateDescription);
  const status = vscode.window.createStatusBarItem('hyperstep.status', vscode.StatusBarAlignment.Left, 50);
  status.name = 'Hyperstep guest';
  const updateStatus = (): void => {
    const text = model.statusText();
    if (text === undefined) {
      status.hide();
      return;
    }
    status.text = text;
    status.tooltip = model.statusTooltip();
    status.command = { command: `${EXITS_VIEW}.focus`, title: model.softTechniqueName !== undefined ? 'Show traps into the VMM' : 'Show VM exits' };
    status.show();
  };
  model.onDidChange(updateStatus);
  let hasExits = false;
  model.onDidChange(() => {
    const now = model.hasContent;
    if (now === hasExits) return;
    hasExits = now;
    void vscode.commands.executeCommand('setContext', HAS_EXITS_CONTEXT, now);
  });

  let sessions = 0;
  subscriptions.push(
    tree,
    status,
    view,
    vscode.workspace.registerTextDocumentContentProvider(EXIT_DOCUMENT_SCHEME, {
      provideTextDocumentContent: (uri) => exitDocuments.get(uri.toString()) ?? '; this VM exit is no longer available\n',
    }),
    vscode.debug.onDidReceiveDebugSessionCustomEvent((e) => {
      if (e.session.type === DEBUG_TYPE) model.accept(e.event, e.body);
    }),
    vscode.debug.onDidStartDebugSession((s) => {
      if (s.type !== DEBUG_TYPE) return;
      sessions++;
      model.clear(); // a new guest: the view shows its exits only
    }),
    vscode.debug.onDidTerminateDebugSession((s) => {
      if (s.type !== DEBUG_TYPE) return;
      sessions = Math.max(0, sessions - 1);
      // The tree keeps the last run's exits to look at; the status bar is for a running guest.
      if (sessions === 0) status.hide();
    }),
    vscode.commands.registerCommand(CLEAR_EXITS_COMMAND, () => model.clear()),
    vscode.commands.registerCommand(REVEAL_EXIT_COMMAND, (exit: RevealTarget) => revealExit(vscode, exit)),
  );
  return { model, tree, view, status };
}
