// Turns a launch configuration's `program` into guest bytes: a NASM source is
// assembled (errors become a LaunchError whose message has one
// `file:line:col: error: ...` line each), anything else is a raw image.
//
// The assembler reads %include files synchronously, but a FileAccessor is
// asynchronous. So assembly runs in rounds: each round serves the files
// fetched so far and notes which other paths the assembler asked for; those
// are fetched and the source is assembled again, until a round asks for
// nothing new. Paths are whatever the assembler resolves, so this agrees with
// its include rules by construction, conditional includes included.

import { assemble, formatDiagnostic, type AsmDiagnostic, type SourceMap } from '../x86/asm/index';
import type { FileAccessor } from './fileAccessor';
import { LaunchError, type LaunchConfig } from './launchConfig';

export interface GuestProgram {
  path: string;
  bytes: Uint8Array;
  /** The source's `org`, for an assembled program. */
  origin?: number;
  fromSource: boolean;
  /** Assembler warnings, formatted file:line:col. */
  warnings: string[];
  /** Address ⇄ file:line, for an assembled program (file names as the user wrote the path). */
  sourceMap?: SourceMap;
  /** Labels and their addresses, for an assembled program. */
  symbols?: Map<string, number>;
  /** The code size the source starts in (`bits`), for an assembled program. */
  bits?: 16 | 32;
}

/** Extensions taken as NASM source; everything else is loaded as a raw image. */
export function isAssemblySource(path: string): boolean {
  return /\.(asm|nasm|inc|s)$/i.test(path);
}

/** Bound on assembly rounds: one per level of newly discovered includes. */
const MAX_INCLUDE_ROUNDS = 64;

export async function loadGuestProgram(files: FileAccessor, config: LaunchConfig): Promise<GuestProgram> {
  const path = config.program;
  let bytes: Uint8Array;
  try {
    bytes = await files.readFile(path);
  } catch (e) {
    throw new LaunchError(`Cannot read program '${path}': ${errorText(e)}`);
  }
  if (!isAssemblySource(path)) {
    if (bytes.length === 0) throw new LaunchError(`${path}: empty binary image`);
    return { path, bytes, fromSource: false, warnings: [] };
  }
  return assembleWithIncludes(files, path, decode(bytes), config);
}

async function assembleWithIncludes(files: FileAccessor, path: string, source: string, config: LaunchConfig): Promise<GuestProgram> {
  // The assembler resolves includes with '/' separators, so a Windows path
  // goes in with '/' (both fs and vscode.Uri.file accept that) and its
  // diagnostics come back with the user's '\\'.
  const windows = path.includes('\\');
  const format = (d: AsmDiagnostic): string => formatDiagnostic(windows ? { ...d, file: d.file.replace(/\//g, '\\') } : d);
  // undefined marks a path that was asked for and could not be read.
  const cache = new Map<string, string | undefined>();
  const options = {
    fileName: windows ? path.replace(/\\/g, '/') : path,
    bits: config.mode === 'flat32' ? (32 as const) : (16 as const),
    ...(config.org !== undefined ? { org: config.org } : {}),
  };
  for (let round = 0; ; round++) {
    const wanted: string[] = [];
    const result = assemble(source, {
      ...options,
      readFile: (p: string) => {
        if (cache.has(p)) return cache.get(p);
        if (!wanted.includes(p)) wanted.push(p);
        return undefined;
      },
    });
    if (wanted.length === 0 || round >= MAX_INCLUDE_ROUNDS) {
      const errors = result.diagnostics.filter((d) => d.severity === 'error');
      if (!result.ok || errors.length > 0) {
        const lines = errors.map(format);
        if (lines.length === 0) lines.push(`${path}: error: assembly failed`);
        throw new LaunchError(lines.join('\n'));
      }
      if (result.bytes.length === 0) throw new LaunchError(`${path}: the program assembles to no bytes`);
      const warnings = result.diagnostics.filter((d) => d.severity !== 'error').map(format);
      const sourceMap = windows ? windowsSourceMap(result.sourceMap) : result.sourceMap;
      return { path, bytes: result.bytes, origin: result.origin, fromSource: true, warnings, sourceMap, symbols: result.symbols, bits: options.bits };
    }
    await Promise.all(
      wanted.map(async (p) => {
        try {
          cache.set(p, decode(await files.readFile(p)));
        } catch {
          cache.set(p, undefined);
        }
      }),
    );
  }
}

/** The source map with the user's '\\' separators, so breakpoint paths match. */
function windowsSourceMap(map: SourceMap): SourceMap {
  const entries = map.entries.map((e) => ({ ...e, file: e.file.replace(/\//g, '\\') }));
  return {
    entries,
    lookup: (address) => {
      const e = map.lookup(address);
      return e === undefined ? undefined : { ...e, file: e.file.replace(/\//g, '\\') };
    },
    addressesFor: (file, line) => map.addressesFor(file.replace(/\\/g, '/'), line),
  };
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder('utf-8').decode(bytes);
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
