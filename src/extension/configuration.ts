// How the extension completes a launch configuration before a session
// starts. Kept free of the vscode module so it can be tested directly.

export const DEBUG_TYPE = 'hyperstep';

/** The parts of a debug configuration looked at here; other attributes pass through. */
export interface DebugConfigurationLike {
  type: string;
  name: string;
  request: string;
  [attribute: string]: unknown;
}

export interface ActiveDocument {
  fileName: string;
  languageId: string;
}

export type Resolution = { config: DebugConfigurationLike } | { error: string };

export function isGuestSource(doc: ActiveDocument): boolean {
  return doc.languageId === 'nasm' || /\.(asm|nasm)$/i.test(doc.fileName);
}

/**
 * Fills a default configuration when there is none (F5 without a launch.json
 * while a .asm file is open) and rejects one that cannot launch.
 */
export function resolveLaunchConfiguration(config: DebugConfigurationLike, active: ActiveDocument | undefined): Resolution {
  const empty = !config.type && !config.request && !config.name;
  if (empty) {
    if (!active || !isGuestSource(active)) {
      return { error: 'Open a NASM .asm file to debug it, or add a Hyperstep launch configuration with a "program".' };
    }
    return {
      config: { type: DEBUG_TYPE, name: 'Debug guest', request: 'launch', program: '${file}', stopOnEntry: true },
    };
  }
  if (config.request !== 'launch') {
    return { error: `Hyperstep can only launch a guest; the "${config.request}" request is not supported.` };
  }
  const program = config['program'];
  if (typeof program !== 'string' || program.trim() === '') {
    return {
      error: `The launch configuration "${config.name}" has no "program". Set it to a NASM .asm file or a raw binary image, for example "\${file}".`,
    };
  }
  return { config };
}

function baseName(fileName: string): string {
  return fileName.slice(Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\')) + 1);
}

/** The launch of one guest source, as the Run/Debug buttons and the dynamic configurations start it. */
export function guestLaunchConfiguration(fileName: string, noDebug = false): DebugConfigurationLike {
  const config: DebugConfigurationLike = {
    type: DEBUG_TYPE,
    name: `${noDebug ? 'Run' : 'Debug'} ${baseName(fileName)}`,
    request: 'launch',
    program: fileName,
    stopOnEntry: !noDebug,
  };
  if (noDebug) config['noDebug'] = true;
  return config;
}

/** "Debug this guest" entries for the Run and Debug dropdown: the open guest sources, the active one first, no repeats. */
export function dynamicConfigurations(active: ActiveDocument | undefined, open: readonly ActiveDocument[]): DebugConfigurationLike[] {
  const seen = new Set<string>();
  const out: DebugConfigurationLike[] = [];
  for (const doc of [...(active ? [active] : []), ...open]) {
    if (!isGuestSource(doc) || /\.inc$/i.test(doc.fileName) || seen.has(doc.fileName)) continue;
    seen.add(doc.fileName);
    out.push(guestLaunchConfiguration(doc.fileName));
  }
  return out;
}
