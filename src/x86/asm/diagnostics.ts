export interface AsmDiagnostic {
  file: string;
  line: number;
  column: number;
  severity: 'error' | 'warning';
  message: string;
}

export function formatDiagnostic(d: AsmDiagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.severity}: ${d.message}`;
}

/** Where a construct came from; carried through every stage so errors point at the source. */
export interface SourcePos {
  file: string;
  line: number;
  column: number;
}

/** Thrown inside a single statement's processing and caught by the driver; never escapes assemble(). */
export class AsmError extends Error {
  constructor(message: string, public readonly column?: number) {
    super(message);
  }
}
