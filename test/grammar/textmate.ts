// A small TextMate tokenizer, enough to check what scopes the NASM grammar
// gives to real lines. It follows the rules vscode-textmate applies (earliest
// match wins, ties go to the pattern listed first, a begin/end rule's end
// pattern is tried before its inner patterns, begin/end regions carry over
// line breaks) but runs the patterns as JavaScript regular expressions, so it
// also proves they mean the same thing in both engines for the subset used.

export interface Captures { [group: string]: { name?: string } }

export interface Rule {
  name?: string;
  contentName?: string;
  match?: string;
  begin?: string;
  end?: string;
  captures?: Captures;
  beginCaptures?: Captures;
  endCaptures?: Captures;
  patterns?: Rule[];
  include?: string;
  comment?: string;
}

export interface Grammar {
  scopeName: string;
  patterns: Rule[];
  repository: Record<string, Rule>;
}

export interface Token { text: string; scopes: string[] }

/** Oniguruma constructs that JavaScript rejects or silently reads differently. */
const ONIGURUMA_ONLY: [RegExp, string][] = [
  [/\\[hHAzZGK]/, 'Oniguruma-only escape'],
  [/\(\?[imx]*-?[imx]+[:)]/, 'inline option group (only a leading (?i) is allowed)'],
  [/\(\?>/, 'atomic group'],
  [/[*+?}][+]/, 'possessive quantifier'],
  [/\\p\{/, 'Unicode property (needs the u flag in JS)'],
];

/**
 * Translates a grammar pattern to a JavaScript RegExp. The only translation
 * is a leading (?i), which Oniguruma takes as a pattern option and JS as the
 * i flag; anything else that is not in the common subset throws.
 */
export function toRegExp(pattern: string, extraFlags = ''): RegExp {
  let source = pattern;
  let flags = 'u' + extraFlags;
  if (source.startsWith('(?i)')) {
    source = source.slice(4);
    flags += 'i';
  }
  const stripped = source.replace(/\\\\/g, '');
  for (const [probe, what] of ONIGURUMA_ONLY) {
    if (probe.test(stripped)) throw new Error(`${what} in /${pattern}/`);
  }
  return new RegExp(source, flags);
}

/** Every regex string in the grammar with a path that names where it is. */
export function allPatterns(grammar: Grammar): { where: string; pattern: string }[] {
  const out: { where: string; pattern: string }[] = [];
  const visit = (rule: Rule, where: string): void => {
    for (const key of ['match', 'begin', 'end'] as const) {
      const p = rule[key];
      if (p !== undefined) out.push({ where: `${where}.${key}`, pattern: p });
    }
    rule.patterns?.forEach((r, i) => visit(r, `${where}.patterns[${i}]`));
  };
  grammar.patterns.forEach((r, i) => visit(r, `patterns[${i}]`));
  for (const [name, rule] of Object.entries(grammar.repository)) visit(rule, `repository.${name}`);
  return out;
}

interface Compiled {
  rule: Rule;
  re: RegExp;
  /** The enclosing begin/end rule's end pattern. */
  isEnd: boolean;
}

interface Frame {
  rule: Rule;
  end: RegExp;
}

export class Tokenizer {
  private readonly cache = new Map<string, RegExp>();
  private stack: Frame[] = [];

  constructor(private readonly grammar: Grammar) {}

  /** Forget begin/end regions left open by earlier lines. */
  reset(): void {
    this.stack = [];
  }

  tokenizeLine(line: string): Token[] {
    const scopes: string[][] = new Array<string[]>(line.length);
    let pos = 0;
    let guard = 0;
    while (pos <= line.length) {
      const frame = this.stack[this.stack.length - 1];
      const base = this.baseScopes();
      const candidates: Compiled[] = [];
      if (frame) candidates.push({ rule: frame.rule, re: frame.end, isEnd: true });
      for (const rule of this.flatten(frame ? frame.rule.patterns ?? [] : this.grammar.patterns)) {
        candidates.push({ rule, re: this.regex(rule.match ?? rule.begin ?? ''), isEnd: false });
      }
      let best: { c: Compiled; m: RegExpExecArray } | undefined;
      for (const c of candidates) {
        c.re.lastIndex = pos;
        const m = c.re.exec(line);
        if (m && (!best || m.index < best.m.index)) best = { c, m };
      }
      if (!best) {
        fill(scopes, pos, line.length, base);
        break;
      }
      const { c, m } = best;
      const start = m.index;
      const end = start + m[0].length;
      fill(scopes, pos, start, base);
      if (c.isEnd && frame) {
        const outer = frame.rule.contentName ? base.slice(0, -1) : base;
        fill(scopes, start, end, outer);
        applyCaptures(scopes, m, frame.rule.endCaptures ?? frame.rule.captures, outer);
        this.stack.pop();
      } else if (c.rule.begin !== undefined) {
        const withName = c.rule.name ? [...base, c.rule.name] : base;
        fill(scopes, start, end, withName);
        applyCaptures(scopes, m, c.rule.beginCaptures ?? c.rule.captures, withName);
        this.stack.push({ rule: c.rule, end: this.regex(c.rule.end ?? '$') });
      } else {
        const withName = c.rule.name ? [...base, c.rule.name] : base;
        fill(scopes, start, end, withName);
        applyCaptures(scopes, m, c.rule.captures, withName);
      }
      if (end > pos) {
        pos = end;
      } else if (!c.isEnd && c.rule.begin === undefined) {
        // A zero-width match that changes no region would never advance.
        if (pos >= line.length) break;
        fill(scopes, pos, pos + 1, base);
        pos++;
      }
      if (++guard > 10_000) throw new Error(`tokenizer made no progress on: ${line}`);
    }
    return merge(line, scopes);
  }

  private baseScopes(): string[] {
    const out = [this.grammar.scopeName];
    for (const f of this.stack) {
      if (f.rule.name) out.push(f.rule.name);
      if (f.rule.contentName) out.push(f.rule.contentName);
    }
    return out;
  }

  private regex(pattern: string): RegExp {
    let re = this.cache.get(pattern);
    if (!re) {
      re = toRegExp(pattern, 'gd');
      this.cache.set(pattern, re);
    }
    return re;
  }

  /** Expands includes (#name and $self) into the rules that can match. */
  private flatten(rules: Rule[], seen = new Set<string>()): Rule[] {
    const out: Rule[] = [];
    for (const rule of rules) {
      if (rule.include !== undefined) {
        const key = rule.include;
        if (seen.has(key)) continue;
        const next = new Set(seen).add(key);
        if (key === '$self' || key === '$base') {
          out.push(...this.flatten(this.grammar.patterns, next));
        } else if (key.startsWith('#')) {
          const target = this.grammar.repository[key.slice(1)];
          if (!target) throw new Error(`unresolved include ${key}`);
          out.push(...this.flatten([target], next));
        } else {
          throw new Error(`external include ${key} is not supported`);
        }
      } else if (rule.match === undefined && rule.begin === undefined) {
        out.push(...this.flatten(rule.patterns ?? [], seen));
      } else {
        out.push(rule);
      }
    }
    return out;
  }
}

function fill(scopes: string[][], from: number, to: number, value: string[]): void {
  for (let i = from; i < to && i < scopes.length; i++) scopes[i] = value;
}

function applyCaptures(scopes: string[][], m: RegExpExecArray, captures: Captures | undefined, outer: string[]): void {
  if (!captures || !m.indices) return;
  // Group 0 first, then groups in order, so a nested group refines its parent.
  const groups = Object.keys(captures).map(Number).sort((a, b) => a - b);
  for (const g of groups) {
    const span = m.indices[g];
    const name = captures[String(g)]?.name;
    if (!span || !name) continue;
    for (let i = span[0]; i < span[1]; i++) scopes[i] = [...(scopes[i] ?? outer), name];
  }
}

function merge(line: string, scopes: string[][]): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < line.length; i++) {
    const s = scopes[i] ?? [];
    const last = out[out.length - 1];
    if (last && sameScopes(last.scopes, s)) last.text += line[i];
    else out.push({ text: line[i] ?? '', scopes: s });
  }
  return out;
}

function sameScopes(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
