// A stand-in for the parts of the vscode API the extension uses, recording
// what gets registered and shown, so activation runs under node:test.

import type { VscodeApi } from '../../src/extension/registration';

export class FakeUri {
  constructor(readonly scheme: string, readonly fsPath: string) {}
  get path(): string {
    return this.fsPath.replace(/\\/g, '/');
  }
  toString(): string {
    return this.scheme === 'file' ? `file://${this.path}` : this.fsPath;
  }
  static file(path: string): FakeUri {
    return new FakeUri('file', path);
  }
  /** Keeps the whole text as fsPath, as the tests compare it. */
  static parse(value: string): FakeUri {
    return new FakeUri(value.slice(0, value.indexOf(':')), value);
  }
  /** Path segments appended with '/', '..' taken off (file URIs only, as the tests use them). */
  static joinPath(base: FakeUri, ...segments: string[]): FakeUri {
    const parts = base.fsPath.split('/');
    for (const seg of segments.flatMap((x) => x.split('/'))) {
      if (seg === '..') parts.pop();
      else if (seg !== '' && seg !== '.') parts.push(seg);
    }
    return new FakeUri(base.scheme, parts.join('/'));
  }
  with(change: { path?: string }): FakeUri {
    return new FakeUri(this.scheme, change.path ?? this.fsPath);
  }
}

export class Position {
  constructor(readonly line: number, readonly character: number) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(l1: number, c1: number, l2: number, c2: number) {
    this.start = new Position(l1, c1);
    this.end = new Position(l2, c2);
  }
}

export class Location {
  constructor(readonly uri: FakeUri, readonly range: Position | Range) {}
}

export const DiagnosticSeverity = { Error: 0, Warning: 1, Information: 2, Hint: 3 } as const;

export class Diagnostic {
  source?: string;
  constructor(readonly range: Range, readonly message: string, readonly severity: number) {}
}

export const SymbolKind = { Method: 5, Field: 7, Function: 11, Constant: 13 } as const;

export class DocumentSymbol {
  children: DocumentSymbol[] = [];
  constructor(readonly name: string, readonly detail: string, readonly kind: number, readonly range: Range, readonly selectionRange: Range) {}
}

export class MarkdownString {
  constructor(readonly value: string) {}
}

export class Hover {
  constructor(readonly contents: MarkdownString) {}
}

export const TreeItemCollapsibleState = { None: 0, Collapsed: 1, Expanded: 2 } as const;

export class ThemeIcon {
  constructor(readonly id: string) {}
}

export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: string;
  iconPath?: ThemeIcon;
  contextValue?: string;
  command?: { command: string; title: string; arguments?: unknown[] };
  constructor(readonly label: string, readonly collapsibleState: number) {}
}

type Listener<T> = (value: T) => unknown;

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  readonly event = (listener: Listener<T>): { dispose(): void } => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(value: T): void {
    for (const l of [...this.listeners]) l(value);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class FakeInlineImplementation {
  constructor(readonly implementation: unknown) {}
}

export class FakeDocument {
  version = 1;
  isClosed = false;
  isDirty = false;
  isUntitled = false;
  saved = 0;
  readonly uri: FakeUri;
  constructor(readonly fileName: string, private text: string, readonly languageId = 'nasm', uri?: FakeUri) {
    this.uri = uri ?? FakeUri.file(fileName);
  }
  getText(): string {
    return this.text;
  }
  setText(text: string): void {
    this.text = text;
    this.version++;
    this.isDirty = true;
  }
  save(): Promise<boolean> {
    this.saved++;
    this.isDirty = false;
    return Promise.resolve(true);
  }
}

export interface FakeStatusBarItem {
  id: string;
  text: string;
  tooltip?: string;
  name?: string;
  command?: unknown;
  visible: boolean;
  show(): void;
  hide(): void;
  dispose(): void;
}

export interface FakeSession {
  type: string;
  name: string;
  customRequest?(command: string, args: unknown): Promise<unknown>;
}

export type Provider = Record<string, (...args: never[]) => unknown>;

/** A file system error as workspace.fs rejects with. */
const notFound = (uri: FakeUri): Error => Object.assign(new Error(`FileNotFound: ${uri.fsPath}`), { code: 'FileNotFound' });

export function fakeVscode(files: Record<string, string> = {}) {
  const state = {
    trackerFactories: new Map<string, { createDebugAdapterTracker(session?: unknown): unknown }>(),
    workspaceFolders: undefined as { name: string; index: number; uri: FakeUri }[] | undefined,
    /** Schemes workspace.fs cannot write to. */
    readOnlySchemes: new Set<string>(),
    /** Files written through workspace.fs, by fsPath (also readable afterwards). */
    written: new Map<string, Uint8Array>(),
    directories: new Set<string>(),
    /** launch.json of each folder (getConfiguration('launch', folderUri)), by the folder's fsPath. */
    launch: new Map<string, Record<string, unknown>[]>(),
    quickPick: undefined as ((items: readonly { label: string }[]) => unknown) | undefined,
    openDialog: undefined as FakeUri[] | undefined,
    progress: [] as { title?: string; messages: string[] }[],
    previews: [] as string[],
    configurationProviders: [] as { type: string; provider: Provider; trigger: number }[],
    factories: new Map<string, { createDebugAdapterDescriptor(): unknown }>(),
    commands: new Map<string, (...args: unknown[]) => unknown>(),
    executed: [] as { command: string; args: unknown[] }[],
    errors: [] as string[],
    infos: [] as string[],
    reads: [] as FakeUri[],
    started: [] as { folder: unknown; config: Record<string, unknown>; options: unknown }[],
    shown: [] as { document: FakeDocument; selection?: Range }[],
    activeTextEditor: undefined as { document: FakeDocument } | undefined,
    activeDebugSession: undefined as FakeSession | undefined,
    textDocuments: [] as FakeDocument[],
    diagnostics: new Map<string, Diagnostic[]>(),
    symbolProviders: [] as Provider[],
    definitionProviders: [] as Provider[],
    hoverProviders: [] as Provider[],
    treeProviders: new Map<string, Provider>(),
    /** Views made with createTreeView, by id: what the extension set on them. */
    treeViews: new Map<string, { title?: string; description?: string; message?: string }>(),
    contentProviders: new Map<string, { provideTextDocumentContent(uri: FakeUri): string }>(),
    statusItems: [] as FakeStatusBarItem[],
  };
  const events = {
    open: new EventEmitter<FakeDocument>(),
    change: new EventEmitter<{ document: FakeDocument }>(),
    close: new EventEmitter<FakeDocument>(),
    custom: new EventEmitter<{ session: FakeSession; event: string; body: unknown }>(),
    startSession: new EventEmitter<FakeSession>(),
    endSession: new EventEmitter<FakeSession>(),
  };
  const disposable = { dispose() {} };

  const api = {
    Uri: FakeUri,
    Position, Range, Location, Diagnostic, DiagnosticSeverity, DocumentSymbol, SymbolKind, Hover, MarkdownString,
    TreeItem, TreeItemCollapsibleState, ThemeIcon, EventEmitter,
    StatusBarAlignment: { Left: 1, Right: 2 },
    DebugConfigurationProviderTriggerKind: { Initial: 1, Dynamic: 2 },
    DebugAdapterInlineImplementation: FakeInlineImplementation,
    debug: {
      registerDebugConfigurationProvider(type: string, provider: Provider, trigger = 1) {
        state.configurationProviders.push({ type, provider, trigger });
        return disposable;
      },
      registerDebugAdapterDescriptorFactory(type: string, f: { createDebugAdapterDescriptor(): unknown }) {
        state.factories.set(type, f);
        return disposable;
      },
      registerDebugAdapterTrackerFactory(type: string, f: { createDebugAdapterTracker(session?: unknown): unknown }) {
        state.trackerFactories.set(type, f);
        return { dispose: () => state.trackerFactories.delete(type) };
      },
      onDidReceiveDebugSessionCustomEvent: events.custom.event,
      onDidStartDebugSession: events.startSession.event,
      onDidTerminateDebugSession: events.endSession.event,
      startDebugging(folder: unknown, config: Record<string, unknown>, options: unknown) {
        state.started.push({ folder, config, options });
        return Promise.resolve(true);
      },
      get activeDebugSession() {
        return state.activeDebugSession;
      },
    },
    languages: {
      createDiagnosticCollection(_name: string) {
        return {
          set(uri: FakeUri, list: Diagnostic[]) {
            state.diagnostics.set(uri.toString(), list);
          },
          delete(uri: FakeUri) {
            state.diagnostics.delete(uri.toString());
          },
          dispose() {
            state.diagnostics.clear();
          },
        };
      },
      registerDocumentSymbolProvider(_selector: unknown, p: Provider) {
        state.symbolProviders.push(p);
        return disposable;
      },
      registerDefinitionProvider(_selector: unknown, p: Provider) {
        state.definitionProviders.push(p);
        return disposable;
      },
      registerHoverProvider(_selector: unknown, p: Provider) {
        state.hoverProviders.push(p);
        return disposable;
      },
    },
    commands: {
      registerCommand(id: string, run: (...args: unknown[]) => unknown) {
        if (state.commands.has(id)) throw new Error(`command ${id} registered twice`);
        state.commands.set(id, run);
        return { dispose: () => state.commands.delete(id) };
      },
      executeCommand(command: string, ...args: unknown[]) {
        state.executed.push({ command, args });
        return Promise.resolve(undefined);
      },
    },
    window: {
      get activeTextEditor() {
        return state.activeTextEditor;
      },
      showErrorMessage(message: string) {
        state.errors.push(message);
        return Promise.resolve(undefined);
      },
      showInformationMessage(message: string) {
        state.infos.push(message);
        return Promise.resolve(undefined);
      },
      async showTextDocument(target: FakeDocument | FakeUri, options?: { selection?: Range }) {
        const document = target instanceof FakeUri ? await api.workspace.openTextDocument(target) : target;
        state.shown.push({ document, selection: options?.selection });
        return { document };
      },
      showQuickPick<T extends { label: string }>(items: readonly T[]) {
        return Promise.resolve(state.quickPick?.(items) as T | undefined);
      },
      showOpenDialog() {
        return Promise.resolve(state.openDialog);
      },
      async withProgress<R>(options: { title?: string }, task: (p: { report(v: { message?: string }): void }, token: { isCancellationRequested: boolean }) => Promise<R>) {
        const record = { title: options.title, messages: [] as string[] };
        state.progress.push(record);
        return task({ report: (v) => void (v.message !== undefined && record.messages.push(v.message)) }, { isCancellationRequested: false });
      },
      registerTreeDataProvider(id: string, p: Provider) {
        state.treeProviders.set(id, p);
        return disposable;
      },
      createTreeView(id: string, options: { treeDataProvider: Provider }) {
        state.treeProviders.set(id, options.treeDataProvider);
        const view: { title?: string; description?: string; message?: string; visible: boolean; dispose(): void } = {
          visible: true,
          dispose() {
            state.treeViews.delete(id);
          },
        };
        state.treeViews.set(id, view);
        return view;
      },
      createStatusBarItem(id: string) {
        const item: FakeStatusBarItem = {
          id, text: '', visible: false,
          show() { item.visible = true; },
          hide() { item.visible = false; },
          dispose() { item.visible = false; },
        };
        state.statusItems.push(item);
        return item;
      },
    },
    ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
    ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
    workspace: {
      fs: {
        readFile(uri: FakeUri): Promise<Uint8Array> {
          state.reads.push(uri);
          const bytes = state.written.get(uri.fsPath);
          if (bytes !== undefined) return Promise.resolve(bytes);
          const text = files[uri.fsPath];
          return text === undefined ? Promise.reject(notFound(uri)) : Promise.resolve(new TextEncoder().encode(text));
        },
        stat(uri: FakeUri) {
          const p = uri.fsPath;
          if (state.written.has(p) || files[p] !== undefined) return Promise.resolve({ type: 1, ctime: 0, mtime: 0, size: 0 });
          if (state.directories.has(p)) return Promise.resolve({ type: 2, ctime: 0, mtime: 0, size: 0 });
          return Promise.reject(notFound(uri));
        },
        writeFile(uri: FakeUri, content: Uint8Array) {
          if (state.readOnlySchemes.has(uri.scheme)) return Promise.reject(new Error(`NoPermissions: ${uri.fsPath}`));
          state.written.set(uri.fsPath, content);
          return Promise.resolve();
        },
        createDirectory(uri: FakeUri) {
          if (state.readOnlySchemes.has(uri.scheme)) return Promise.reject(new Error(`NoPermissions: ${uri.fsPath}`));
          state.directories.add(uri.fsPath);
          return Promise.resolve();
        },
        isWritableFileSystem(scheme: string) {
          return !state.readOnlySchemes.has(scheme);
        },
      },
      get workspaceFolders() {
        return state.workspaceFolders;
      },
      getConfiguration(section: string, scope?: FakeUri) {
        if (section !== 'launch') throw new Error(`the fake has no configuration section ${section}`);
        const key = scope?.fsPath ?? '';
        return {
          get<T>(name: string): T | undefined {
            return (name === 'configurations' ? state.launch.get(key) : undefined) as T | undefined;
          },
          update(name: string, value: Record<string, unknown>[]) {
            if (name === 'configurations') state.launch.set(key, value);
            return Promise.resolve();
          },
        };
      },
      get textDocuments() {
        return state.textDocuments;
      },
      onDidOpenTextDocument: events.open.event,
      onDidChangeTextDocument: events.change.event,
      onDidCloseTextDocument: events.close.event,
      getWorkspaceFolder(uri: FakeUri) {
        if (state.workspaceFolders === undefined) return { name: 'w', index: 0, uri: FakeUri.file('/w') };
        return state.workspaceFolders.find((f) => uri.fsPath === f.uri.fsPath || uri.fsPath.startsWith(f.uri.fsPath + '/'));
      },
      registerTextDocumentContentProvider(scheme: string, p: { provideTextDocumentContent(uri: FakeUri): string }) {
        state.contentProviders.set(scheme, p);
        return disposable;
      },
      openTextDocument(target: FakeUri | { language: string; content: string }) {
        if (!(target instanceof FakeUri)) {
          state.previews.push(target.content);
          return Promise.resolve(new FakeDocument(`Untitled-${state.previews.length}`, target.content, target.language, new FakeUri('untitled', `Untitled-${state.previews.length}`)));
        }
        const uri = target;
        const open = state.textDocuments.find((d) => d.uri.toString() === uri.toString());
        if (open) return Promise.resolve(open);
        const provider = state.contentProviders.get(uri.scheme);
        if (provider) return Promise.resolve(new FakeDocument(uri.path, provider.provideTextDocumentContent(uri), 'nasm', uri));
        const written = state.written.get(uri.fsPath);
        const text = written !== undefined ? new TextDecoder().decode(written) : files[uri.fsPath];
        return text === undefined ? Promise.reject(notFound(uri)) : Promise.resolve(new FakeDocument(uri.fsPath, text));
      },
    },
  };

  /** Opens a document as VS Code does: listed in textDocuments, then the open event. */
  const open = (fileName: string, text: string, languageId = 'nasm'): FakeDocument => {
    const doc = new FakeDocument(fileName, text, languageId);
    state.textDocuments.push(doc);
    events.open.fire(doc);
    return doc;
  };
  const edit = (doc: FakeDocument, text: string): void => {
    doc.setText(text);
    events.change.fire({ document: doc });
  };
  const close = (doc: FakeDocument): void => {
    doc.isClosed = true;
    state.textDocuments = state.textDocuments.filter((d) => d !== doc);
    events.close.fire(doc);
  };
  return { api: api as unknown as VscodeApi, state, events, open, edit, close };
}
