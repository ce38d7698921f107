// The per-case lines the harness prints to port 0xE9, parsed.

export const RESULT_FIELDS = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'eflags', 'sum'] as const;

export type CaseResult =
  | { kind: 'state'; values: number[] }
  | { kind: 'fault'; vector: number; errorCode?: number }
  | { kind: 'missing' };

const LINE = /@([0-9a-f]{4}) (?:#([0-9a-f]{2})(?: ([0-9a-f]{8}))?|((?:[0-9a-f]{8} ){9}[0-9a-f]{8}))$/;

/** Parses harness output; keys are the image-local case indices. */
export function parseOutput(text: string): Map<number, CaseResult> {
  const out = new Map<number, CaseResult>();
  for (const raw of text.split('\n')) {
    const m = LINE.exec(raw.trimEnd());
    if (!m) continue;
    const i = parseInt(m[1], 16);
    if (m[2] !== undefined) out.set(i, fault(m[2], m[3]));
    else out.set(i, { kind: 'state', values: m[4].split(' ').map((h) => parseInt(h, 16) >>> 0) });
  }
  return out;
}

function fault(vector: string, code: string | undefined): CaseResult {
  return code === undefined
    ? { kind: 'fault', vector: parseInt(vector, 16) }
    : { kind: 'fault', vector: parseInt(vector, 16), errorCode: parseInt(code, 16) >>> 0 };
}

/** One golden line: ten hex values, "#VV", "#VV:ERRORCODE" or "missing". */
export function formatResult(r: CaseResult): string {
  if (r.kind === 'state') return r.values.map((v) => v.toString(16).padStart(8, '0')).join(' ');
  if (r.kind === 'fault') {
    const v = `#${r.vector.toString(16).padStart(2, '0')}`;
    return r.errorCode === undefined ? v : `${v}:${r.errorCode.toString(16).padStart(8, '0')}`;
  }
  return 'missing';
}

export function parseResult(line: string): CaseResult {
  if (line === 'missing') return { kind: 'missing' };
  if (line.startsWith('#')) return fault(line.slice(1, 3), line.length > 3 ? line.slice(4) : undefined);
  const values = line.split(' ').map((h) => parseInt(h, 16) >>> 0);
  if (values.length !== RESULT_FIELDS.length || values.some((v) => Number.isNaN(v))) throw new Error(`bad result line: ${line}`);
  return { kind: 'state', values };
}
