// A small, strict argument parser: unknown flags and missing values are
// errors with a clear message rather than silently ignored.

export class UsageError extends Error {}

export interface FlagSpec {
  /** Flag takes a value (`--org 0x7c00`); otherwise it is a boolean switch. */
  value?: boolean;
  /** Short alias such as `-o`. */
  alias?: string;
}

export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string | true>;
}

export function parseArgs(argv: string[], spec: Record<string, FlagSpec>): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  const byAlias = new Map<string, string>();
  for (const [name, s] of Object.entries(spec)) if (s.alias) byAlias.set(s.alias, name);

  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      positional.push(a);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      inline = eq >= 0 ? a.slice(eq + 1) : undefined;
    } else {
      const full = byAlias.get(a);
      if (!full) throw new UsageError(`unknown option ${a}`);
      name = full;
    }
    const s = spec[name];
    if (!s) throw new UsageError(`unknown option --${name}`);
    if (s.value) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`option --${name} needs a value`);
      flags.set(name, v);
    } else {
      if (inline !== undefined) throw new UsageError(`option --${name} takes no value`);
      flags.set(name, true);
    }
  }
  return { positional, flags };
}

/** Parses 0x1F, 1Fh, 0b101, 101b, 0o17 and decimal numbers; throws UsageError naming the option. */
export function parseNumber(text: string, what: string): number {
  const t = text.trim().toLowerCase().replace(/_/g, '');
  let n: number;
  if (/^0x[0-9a-f]+$/.test(t)) n = parseInt(t.slice(2), 16);
  else if (/^[0-9][0-9a-f]*h$/.test(t)) n = parseInt(t.slice(0, -1), 16);
  else if (/^0b[01]+$/.test(t)) n = parseInt(t.slice(2), 2);
  else if (/^0o[0-7]+$/.test(t)) n = parseInt(t.slice(2), 8);
  else if (/^[0-9]+$/.test(t)) n = parseInt(t, 10);
  else throw new UsageError(`${what}: '${text}' is not a number`);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what}: '${text}' is out of range`);
  return n;
}

export function flagString(p: ParsedArgs, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}
