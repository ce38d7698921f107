// A small, safe expression language for breakpoint conditions, logpoints,
// exit-filter conditions and the debug console: numbers, registers, flags,
// memory, VMCS fields and the fields of the current VM exit, combined with
// C operators; text fields (a trap's kind) compare with quoted strings.
// User text is parsed here and never handed to eval: a
// condition typed in the editor must not be able to run code in the host.

/** What an expression can read. Each lookup returns undefined for an unknown name. */
export interface ExprContext {
  /** A register or flag by lower-case name (eax, ax, al, eip, eflags, cr0, zf...). */
  register(name: string): number | undefined;
  /** `size` bytes little-endian at a guest-virtual address; throws when unmapped. */
  readMemory(address: number, size: 1 | 2 | 4): number;
  /** A VMCS field by its SDM name (e.g. VM_EXIT_REASON); throws for an unknown name. */
  vmcs(field: string): number;
  /** A field of the VM exit being looked at (port, msr, write...); undefined when the name is not one, throws when there is no exit. */
  exitField(name: string): number | undefined;
  /** A label of the program by its exact name, when there is a symbol table. */
  symbol?(name: string): number | undefined;
  /** A text field of the stop being looked at (a VMM trap's `kind`, a hole's `instruction`); undefined when the name is not one. */
  textField?(name: string): string | undefined;
}

export class ExprError extends Error {
  /** 1-based column of the problem in the expression text. */
  constructor(
    message: string,
    readonly column: number,
  ) {
    super(`${message} (column ${column})`);
  }
}

/** Names of the exit fields conditions may use; documented in docs/debugger.md. */
export const EXIT_FIELD_NAMES = ['port', 'msr', 'leaf', 'vector', 'gpa', 'gla', 'qualification', 'rip', 'vcpu', 'reason', 'size', 'write', 'read', 'in', 'out', 'string', 'rep'] as const;

type Token =
  | { kind: 'num'; value: number; col: number }
  | { kind: 'str'; value: string; col: number }
  | { kind: 'id'; text: string; col: number }
  | { kind: 'op'; text: string; col: number }
  | { kind: 'end'; col: number };

// Longest operators first, so `<<` is not read as two `<`.
const OPERATORS = ['<<', '>>', '<=', '>=', '==', '!=', '&&', '||', '+', '-', '*', '/', '%', '&', '|', '^', '~', '!', '<', '>', '(', ')', '[', ']', ':'];

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const col = i + 1;
    if (/[0-9]/.test(ch)) {
      const m = /^(0x[0-9a-f_]+|0b[01_]+|[0-9][0-9a-f_]*h\b|[0-9][0-9_]*)/i.exec(text.slice(i));
      const raw = m ? m[0] : ch;
      const s = raw.replace(/_/g, '').toLowerCase();
      let value: number;
      if (s.startsWith('0x')) value = parseInt(s.slice(2), 16);
      else if (s.startsWith('0b')) value = parseInt(s.slice(2), 2);
      else if (s.endsWith('h')) value = parseInt(s.slice(0, -1), 16);
      else value = parseInt(s, 10);
      if (!Number.isFinite(value) || /[0-9a-z_]/i.test(text[i + raw.length] ?? '')) throw new ExprError(`bad number '${text.slice(i).split(/[^0-9a-z_]/i)[0]}'`, col);
      out.push({ kind: 'num', value, col });
      i += raw.length;
      continue;
    }
    if (/[a-z_.$]/i.test(ch)) {
      const m = /^[a-z_.$][a-z0-9_.$]*/i.exec(text.slice(i));
      const word = m ? m[0] : ch;
      out.push({ kind: 'id', text: word, col });
      i += word.length;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const end = text.indexOf(ch, i + 1);
      if (end < 0) throw new ExprError(`unterminated string (no closing ${ch})`, col);
      out.push({ kind: 'str', value: text.slice(i + 1, end), col });
      i = end + 1;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op === undefined) throw new ExprError(`unexpected character '${ch}'`, col);
    out.push({ kind: 'op', text: op, col });
    i += op.length;
  }
  out.push({ kind: 'end', col: text.length + 1 });
  return out;
}

/** Binary operators by precedence level, loosest first. */
const LEVELS: readonly (readonly string[])[] = [['||'], ['&&'], ['|'], ['^'], ['&'], ['==', '!='], ['<', '<=', '>', '>='], ['<<', '>>'], ['+', '-'], ['*', '/', '%']];

const SIZES: ReadonlyMap<string, 1 | 2 | 4> = new Map([
  ['byte', 1],
  ['word', 2],
  ['dword', 4],
]);

/**
 * A parsed expression, evaluated lazily so `a && [b]` does not read memory
 * when a is 0. A node that may be text (a quoted string, a name that may be a
 * text field) also has `text`, which `==` and `!=` use.
 */
type Node = ((ctx: ExprContext) => number) & { text?: (ctx: ExprContext) => string | undefined };

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.pos];
  }

  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.text === text;
  }

  private expect(text: string): void {
    const t = this.peek();
    if (!this.isOp(text)) throw new ExprError(`expected '${text}'${t.kind === 'end' ? ' before the end' : ''}`, t.col);
    this.pos++;
  }

  parseAll(): Node {
    const n = this.binary(0);
    const t = this.peek();
    if (t.kind !== 'end') throw new ExprError(`unexpected '${t.kind === 'op' || t.kind === 'id' ? t.text : t.kind === 'str' ? `"${t.value}"` : String(t.value)}'`, t.col);
    return n;
  }

  private binary(level: number): Node {
    if (level >= LEVELS.length) return this.unary();
    let left = this.binary(level + 1);
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || !LEVELS[level].includes(t.text)) return left;
      this.pos++;
      const right = this.binary(level + 1);
      left = combine(t.text, left, right, t.col);
    }
  }

  private unary(): Node {
    const t = this.peek();
    if (t.kind === 'op' && (t.text === '-' || t.text === '~' || t.text === '!' || t.text === '+')) {
      this.pos++;
      const inner = this.unary();
      if (t.text === '-') return (c) => -inner(c);
      if (t.text === '~') return (c) => ~inner(c) >>> 0;
      if (t.text === '!') return (c) => (inner(c) === 0 ? 1 : 0);
      return inner;
    }
    return this.primary();
  }

  private primary(): Node {
    const t = this.peek();
    if (t.kind === 'end') throw new ExprError('expected a value before the end', t.col);
    if (t.kind === 'num') {
      this.pos++;
      const v = t.value;
      return () => v;
    }
    if (t.kind === 'str') {
      this.pos++;
      const v = t.value;
      const node: Node = () => {
        throw new ExprError(`"${v}" is text: it can only be compared with == or != (e.g. kind == "#GP")`, t.col);
      };
      node.text = () => v;
      return node;
    }
    if (t.kind === 'op' && t.text === '(') {
      this.pos++;
      const inner = this.binary(0);
      this.expect(')');
      return inner;
    }
    if (t.kind === 'op' && t.text === '[') return this.memory(4, t.col);
    if (t.kind === 'id') {
      this.pos++;
      const name = t.text.toLowerCase();
      const size = SIZES.get(name);
      if (size !== undefined) {
        // `dword [x]`, also NASM's `dword ptr [x]` habit from other assemblers.
        if (this.peek().kind === 'id' && (this.peek() as { text: string }).text.toLowerCase() === 'ptr') this.pos++;
        if (!this.isOp('[')) throw new ExprError(`expected '[' after '${t.text}'`, this.peek().col);
        return this.memory(size, t.col);
      }
      return identifier(t.text, t.col);
    }
    throw new ExprError(`unexpected '${t.text}'`, t.col);
  }

  private memory(size: 1 | 2 | 4, col: number): Node {
    this.expect('[');
    const address = this.binary(0);
    this.expect(']');
    return (c) => {
      const a = address(c) >>> 0;
      try {
        return c.readMemory(a, size);
      } catch (e) {
        throw new ExprError(`cannot read memory at 0x${a.toString(16)}: ${e instanceof Error ? e.message : String(e)}`, col);
      }
    };
  }
}

function identifier(text: string, col: number): Node {
  const lower = text.toLowerCase();
  if (lower.startsWith('vmcs.')) {
    const field = text.slice(5).toUpperCase();
    return (c) => {
      try {
        return c.vmcs(field);
      } catch (e) {
        throw new ExprError(e instanceof Error ? e.message : String(e), col);
      }
    };
  }
  const node: Node = (c) => {
    const r = c.register(lower);
    if (r !== undefined) return r;
    let f: number | undefined;
    try {
      f = c.exitField(lower);
    } catch (e) {
      throw new ExprError(e instanceof Error ? e.message : String(e), col);
    }
    if (f !== undefined) return f;
    const s = c.symbol?.(text);
    if (s !== undefined) return s;
    if (c.textField?.(lower) !== undefined) throw new ExprError(`'${text}' is text: compare it with == or !=, e.g. ${text} == "…"`, col);
    throw new ExprError(`unknown name '${text}'`, col);
  };
  node.text = (c) => c.textField?.(lower);
  return node;
}

/** `==` (or `!=` negated): text with text (case does not matter), else numbers. */
function equal(l: Node, r: Node, col: number): Node {
  return (c) => {
    const lt = l.text?.(c);
    const rt = r.text?.(c);
    if (lt === undefined && rt === undefined) return bool(l(c) === r(c));
    if (lt === undefined || rt === undefined) throw new ExprError('compares text with a number', col);
    return bool(lt.toLowerCase() === rt.toLowerCase());
  };
}

const bool = (b: boolean): number => (b ? 1 : 0);

function combine(op: string, l: Node, r: Node, col: number): Node {
  switch (op) {
    case '||':
      return (c) => bool(l(c) !== 0 || r(c) !== 0);
    case '&&':
      return (c) => bool(l(c) !== 0 && r(c) !== 0);
    case '|':
      return (c) => (l(c) | r(c)) >>> 0;
    case '^':
      return (c) => (l(c) ^ r(c)) >>> 0;
    case '&':
      return (c) => (l(c) & r(c)) >>> 0;
    case '==':
      return equal(l, r, col);
    case '!=': {
      const eq = equal(l, r, col);
      return (c) => 1 - eq(c);
    }
    case '<':
      return (c) => bool(l(c) < r(c));
    case '<=':
      return (c) => bool(l(c) <= r(c));
    case '>':
      return (c) => bool(l(c) > r(c));
    case '>=':
      return (c) => bool(l(c) >= r(c));
    case '<<':
      return (c) => (l(c) << (r(c) & 31)) >>> 0;
    case '>>':
      return (c) => l(c) >>> (r(c) & 31);
    case '+':
      return (c) => l(c) + r(c);
    case '-':
      return (c) => l(c) - r(c);
    case '*':
      return (c) => l(c) * r(c);
    case '/':
    case '%':
      return (c) => {
        const d = r(c);
        if (d === 0) throw new ExprError('division by zero', col);
        const n = l(c);
        return op === '/' ? Math.trunc(n / d) : n % d;
      };
    default:
      throw new ExprError(`unknown operator '${op}'`, col);
  }
}

/** A compiled expression; parse errors are thrown by `compileExpr` with their column. */
export interface CompiledExpr {
  readonly text: string;
  evaluate(ctx: ExprContext): number;
}

export function compileExpr(text: string): CompiledExpr {
  if (text.trim() === '') throw new ExprError('empty expression', 1);
  const node = new Parser(tokenize(text)).parseAll();
  return { text, evaluate: (ctx) => node(ctx) };
}

export function evaluateExpr(text: string, ctx: ExprContext): number {
  return compileExpr(text).evaluate(ctx);
}

/** `{expr}` parts of a logpoint message replaced by their values in hex; `{{` and `}}` are literal braces. */
export function interpolate(message: string, ctx: ExprContext, format: (n: number) => string = formatHex): string {
  let out = '';
  let i = 0;
  while (i < message.length) {
    const ch = message[i];
    if (ch === '{' && message[i + 1] === '{') {
      out += '{';
      i += 2;
    } else if (ch === '}' && message[i + 1] === '}') {
      out += '}';
      i += 2;
    } else if (ch === '{') {
      const end = message.indexOf('}', i);
      if (end < 0) {
        out += message.slice(i);
        break;
      }
      const expr = message.slice(i + 1, end);
      try {
        out += format(evaluateExpr(expr, ctx));
      } catch (e) {
        out += `<${e instanceof Error ? e.message : String(e)}>`;
      }
      i = end + 1;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

export function formatHex(n: number): string {
  if (!Number.isInteger(n)) return String(n);
  if (n < 0) return '-0x' + (-n).toString(16).toUpperCase();
  return '0x' + n.toString(16).toUpperCase();
}
