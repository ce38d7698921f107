// Loads a guest program for the CLI: a NASM source (assembled here) or a raw
// binary image, with assembler diagnostics formatted as file:line:col.
import { readFileSync, statSync } from 'node:fs';
import { assemble, formatDiagnostic } from '../x86/asm/index';

export class InputError extends Error {}

export interface LoadedProgram {
  path: string;
  bytes: Uint8Array;
  /** The `org` of an assembled source; undefined for raw binaries. */
  origin: number | undefined;
  fromSource: boolean;
  warnings: string[];
}

export function readTextFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function isSource(path: string): boolean {
  return /\.(asm|nasm|s|inc)$/i.test(path);
}

export function loadProgram(path: string, opts: { bits?: 16 | 32 } = {}): LoadedProgram {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new InputError(`${path}: not a file`);
    size = st.size;
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(`${path}: no such file`);
  }
  if (!isSource(path)) {
    if (size === 0) throw new InputError(`${path}: empty binary image`);
    return { path, bytes: new Uint8Array(readFileSync(path)), origin: undefined, fromSource: false, warnings: [] };
  }
  const source = readFileSync(path, 'utf8');
  const result = assemble(source, { fileName: path, readFile: readTextFile, bits: opts.bits });
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  const warnings = result.diagnostics.filter((d) => d.severity !== 'error').map(formatDiagnostic);
  if (!result.ok || errors.length > 0) {
    const lines = errors.map(formatDiagnostic);
    throw new InputError(lines.join('\n') + `\n${path}: ${errors.length} error${errors.length === 1 ? '' : 's'}`);
  }
  if (result.bytes.length === 0) throw new InputError(`${path}: the program assembles to no bytes`);
  return { path, bytes: result.bytes, origin: result.origin, fromSource: true, warnings };
}
