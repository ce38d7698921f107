// Splits one source line into tokens. Columns are 1-based so they can go straight into diagnostics.

export type TokenKind = 'id' | 'num' | 'str' | 'op';

export interface Token {
  kind: TokenKind;
  text: string;
  col: number;
  /** Numeric value for `num` tokens. */
  value?: bigint;
  /** Bytes for `str` tokens (after escape processing). */
  bytes?: number[];
  /** `$name` form: never treated as a keyword or register. */
  escaped?: boolean;
}

export interface LexResult {
  tokens: Token[];
  error?: { message: string; col: number };
}

const IDENT_START = /[A-Za-z_.?@]/;
const IDENT_CHAR = /[A-Za-z0-9_$#@~.?]/;
const OPERATORS = ['<<<', '>>>', '<=>', '<<', '>>', '//', '%%', '==', '!=', '<>', '<=', '>=', '&&', '||', '^^',
  '+', '-', '*', '/', '%', '&', '|', '^', '~', '!', '(', ')', '[', ']', ',', ':', '=', '<', '>', '{', '}'];

export function utf8(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return out;
}

const RADIX_LETTERS: Record<string, number> = { x: 16, h: 16, b: 2, y: 2, o: 8, q: 8, d: 10, t: 10 };

/** Parses a NASM number literal (all prefix/suffix radix forms, underscores). */
export function parseNumber(text: string): bigint | undefined {
  let s = text.toLowerCase();
  let radix = 10;
  if (s.startsWith('$')) {
    radix = 16;
    s = s.slice(1);
  } else if (s.length > 2 && s[0] === '0' && RADIX_LETTERS[s[1]] !== undefined) {
    radix = RADIX_LETTERS[s[1]];
    s = s.slice(2);
  } else if (s.length > 1 && RADIX_LETTERS[s[s.length - 1]] !== undefined) {
    radix = RADIX_LETTERS[s[s.length - 1]];
    s = s.slice(0, -1);
  }
  s = s.replace(/_/g, '');
  if (s === '') return undefined;
  let v = 0n;
  const r = BigInt(radix);
  for (const ch of s) {
    const d = parseInt(ch, 36);
    if (Number.isNaN(d) || d >= radix) return undefined;
    v = v * r + BigInt(d);
  }
  return v;
}

function readBackquoted(line: string, start: number): { bytes: number[]; end: number } | undefined {
  const bytes: number[] = [];
  let i = start;
  while (i < line.length) {
    const ch = line[i];
    if (ch === '`') return { bytes, end: i + 1 };
    if (ch !== '\\') {
      const cp = line.codePointAt(i) ?? 0;
      const s = String.fromCodePoint(cp);
      bytes.push(...utf8(s));
      i += s.length;
      continue;
    }
    i++;
    const e = line[i] ?? '';
    const simple: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, e: 27, '\\': 92, "'": 39, '"': 34, '`': 96, '?': 63 };
    if (simple[e] !== undefined) {
      bytes.push(simple[e]);
      i++;
    } else if (e === 'x' || e === 'X') {
      let j = i + 1;
      let v = 0;
      while (j < line.length && j < i + 3 && /[0-9a-fA-F]/.test(line[j])) v = v * 16 + parseInt(line[j++], 16);
      bytes.push(v & 255);
      i = j;
    } else if (/[0-7]/.test(e)) {
      let j = i;
      let v = 0;
      while (j < line.length && j < i + 3 && /[0-7]/.test(line[j])) v = v * 8 + parseInt(line[j++], 8);
      bytes.push(v & 255);
      i = j;
    } else if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      const hex = line.slice(i + 1, i + 1 + n);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) return undefined;
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) return undefined;
      bytes.push(...utf8(String.fromCodePoint(cp)));
      i += 1 + n;
    } else if (e === '') {
      return undefined;
    } else {
      bytes.push(e.charCodeAt(0) & 255);
      i++;
    }
  }
  return undefined;
}

/** Character constant value: bytes packed little-endian. */
export function bytesToNumber(bytes: number[]): bigint {
  let v = 0n;
  for (let i = Math.min(bytes.length, 8) - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

export function lex(line: string): LexResult {
  const tokens: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const ch = line[i];
    const col = i + 1;
    if (ch === ';') break;
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f' || ch === '\v') {
      i++;
      continue;
    }
    if (ch === "'" || ch === '"') {
      const end = line.indexOf(ch, i + 1);
      if (end < 0) return { tokens, error: { message: 'unterminated string', col } };
      const text = line.slice(i, end + 1);
      tokens.push({ kind: 'str', text, col, bytes: utf8(line.slice(i + 1, end)) });
      i = end + 1;
      continue;
    }
    if (ch === '`') {
      const r = readBackquoted(line, i + 1);
      if (!r) return { tokens, error: { message: 'unterminated or invalid backquoted string', col } };
      tokens.push({ kind: 'str', text: line.slice(i, r.end), col, bytes: r.bytes });
      i = r.end;
      continue;
    }
    if (/[0-9]/.test(ch) || (ch === '$' && /[0-9]/.test(line[i + 1] ?? ''))) {
      let j = i + 1;
      while (j < line.length && /[0-9A-Za-z_]/.test(line[j])) j++;
      const text = line.slice(i, j);
      const value = parseNumber(text);
      if (value === undefined) return { tokens, error: { message: `invalid number \`${text}'`, col } };
      tokens.push({ kind: 'num', text, col, value });
      i = j;
      continue;
    }
    if (ch === '$') {
      if (line[i + 1] === '$') {
        tokens.push({ kind: 'id', text: '$$', col });
        i += 2;
        continue;
      }
      if (IDENT_START.test(line[i + 1] ?? '')) {
        let j = i + 2;
        while (j < line.length && IDENT_CHAR.test(line[j])) j++;
        tokens.push({ kind: 'id', text: line.slice(i + 1, j), col, escaped: true });
        i = j;
        continue;
      }
      tokens.push({ kind: 'id', text: '$', col });
      i++;
      continue;
    }
    if (IDENT_START.test(ch)) {
      let j = i + 1;
      while (j < line.length && IDENT_CHAR.test(line[j])) j++;
      tokens.push({ kind: 'id', text: line.slice(i, j), col });
      i = j;
      continue;
    }
    if (ch === '%' && /[A-Za-z!$+]/.test(line[i + 1] ?? '') ) {
      // %-directives and %-identifiers are handled by the preprocessor; keep them as one token.
      let j = i + 1;
      while (j < line.length && IDENT_CHAR.test(line[j])) j++;
      tokens.push({ kind: 'id', text: line.slice(i, j), col });
      i = j;
      continue;
    }
    const op = OPERATORS.find((o) => line.startsWith(o, i));
    if (op) {
      tokens.push({ kind: 'op', text: op, col });
      i += op.length;
      continue;
    }
    return { tokens, error: { message: `unexpected character \`${ch}'`, col } };
  }
  return { tokens };
}
