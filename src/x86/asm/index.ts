// Public entry point of the NASM-syntax assembler.
export { assemble } from './assembler';
export type { AssembleOptions, AssembleResult } from './assembler';
export { formatDiagnostic } from './diagnostics';
export type { AsmDiagnostic } from './diagnostics';
export type { SourceMap, SourceMapEntry } from './sourcemap';
