// The comparison rule between our decoder/disassembler and ndisasm, shared
// by the golden-file tests and the live oracle tests. At an ndisasm
// instruction boundary:
//  - ours valid: length and text (whitespace and case normalized) must equal;
//  - ours invalid: ndisasm's mnemonic must be outside the supported set
//    (x87, SSE, a bare prefix, db...);
//  - anything else fails, except the documented divergences below, each
//    reported separately: encodings hardware rejects that ndisasm prints
//    (mov cs, segr6, cr1...), WAIT (a prefix to ndisasm, an instruction to
//    the CPU), LOCK on a non-lockable instruction (ndisasm shows a bare
//    "lock"), 16-bit movzx/movsx/bswap forms ndisasm has no template for,
//    and short-branch targets under a 66 prefix; and in the hint-NOP space
//    the MPX/CET/CLDEMOTE names ndisasm gives where the CPU runs a NOP.
//  - alias encodings (Instr.alias: 82, F6/F7 /1, shift /6, setcc with a
//    non-zero reg, mov CRn/DRn with mod<3) are valid for us and unknown to
//    ndisasm, which prints "db" or a bare prefix: outcome 'alias', and our
//    text and length must equal those of the documented twin (aliases.ts).

import { decode } from '../../src/x86/decode/index';
import { Bits, Instr } from '../../src/x86/decode/instr';
import { formatInstr } from '../../src/x86/disasm/index';
import { hintName, supportedMnemonics } from '../../src/x86/decode/tables';
import { expectFromTwin } from './aliases';

export interface Expected { length: number; text: string }
export type Outcome = 'match' | 'both-unsupported' | 'known-divergence' | 'alias' | 'fail';
export const OUTCOMES: readonly Outcome[] = ['match', 'both-unsupported', 'known-divergence', 'alias', 'fail'];
export interface Verdict { outcome: Outcome; ours: string; ourLength: number; detail?: string }

export function normalize(text: string): string {
  return text.trim().replace(/\s+/g, ' ').toLowerCase();
}

const PREFIX_WORDS = new Set(['rep', 'repe', 'repne', 'repz', 'repnz', 'lock', 'o16', 'o32', 'a16', 'a32',
  'es', 'cs', 'ss', 'ds', 'fs', 'gs', 'wait']);

/** ndisasm's mnemonic with any prefixes it prints in front stripped. */
export function mnemonicOf(text: string): string {
  const words = normalize(text).split(' ');
  let i = 0;
  while (i < words.length - 1 && PREFIX_WORDS.has(words[i])) i++;
  return words[i];
}

const SUPPORTED = supportedMnemonics();
const MAX_LEN = 15;

/**
 * Encodings where ndisasm prints an instruction that real hardware rejects
 * and the decoder therefore marks invalid (#UD/#GP), keyed by a regex over
 * ndisasm's text.
 */
const KNOWN_DIVERGENCES: { re: RegExp; why: string }[] = [
  { re: /^(\S+ )*mov (cs|segr[67]),/, why: 'mov to CS or to a non-existent segment register is #UD' },
  { re: /^(\S+ )*mov .*,segr[67]$/, why: 'non-existent segment register is #UD' },
  { re: /^(\S+ )*mov (\S+,cr([15-9]|1[0-5])|cr([15-9]|1[0-5]),\S+)$/, why: 'CR1, CR5-CR8 do not exist in 32-bit mode (#UD)' },
];

export function judge(buf: Uint8Array, pos: number, bits: Bits, ip: number, nd: Expected): Verdict {
  const ins = decode(buf, pos, bits, ip);
  const ours = formatInstr(ins, bits);
  const base = { ours, ourLength: ins.length };
  const ndText = normalize(nd.text);
  if (ins.truncated) {
    // The end of a stream: ndisasm shows the leftover bytes as data.
    return ndText.startsWith('db ') ? { ...base, outcome: 'both-unsupported' } : { ...base, outcome: 'fail', detail: 'truncated' };
  }
  if (ins.invalid) {
    const m = mnemonicOf(ndText);
    // SSE forms whose names collide with string instructions (movsd, cmpsd).
    if (/\b(x|y)?mm\d/.test(ndText)) return { ...base, outcome: 'both-unsupported' };
    if (ins.invalid.startsWith('decoder error')) return { ...base, outcome: 'fail', detail: ins.invalid };
    // A line of prefixes alone: ndisasm found no instruction after them.
    const prefixesOnly = ndText.split(' ').every((w) => PREFIX_WORDS.has(w));
    if (!SUPPORTED.has(m) || prefixesOnly) {
      return { ...base, outcome: 'both-unsupported' };
    }
    if (ins.length === 1 && nd.length > MAX_LEN) return { ...base, outcome: 'known-divergence', detail: 'longer than 15 bytes' };
    const k = KNOWN_DIVERGENCES.find((d) => d.re.test(ndText));
    if (k) return { ...base, outcome: 'known-divergence', detail: k.why };
    return { ...base, outcome: 'fail', detail: `ours invalid (${ins.invalid}), ndisasm: ${ndText}` };
  }
  // ndisasm treats WAIT as a prefix of the next instruction; the CPU runs it on
  // its own. The following instruction is covered by records of its own.
  if (ins.mnemonic === 'wait' && normalize(ours) !== ndText) {
    if (ndText.startsWith('wait ') && buf[pos] === 0x9b) {
      const v = judge(buf, pos + 1, bits, ip + 1, { length: nd.length - 1, text: ndText.slice(5) });
      if (v.outcome === 'fail') return { ...v, ours: 'wait ' + v.ours, ourLength: v.ourLength + 1 };
    }
    return { ...base, outcome: 'known-divergence', detail: 'ndisasm merges wait with what follows' };
  }
  // A LOCK the instruction does not accept: ndisasm shows a bare "lock".
  if (ins.lockInvalid && ndText === 'lock' && nd.length === 1) return { ...base, outcome: 'known-divergence', detail: 'lock on non-lockable' };
  if (normalize(ours) === ndText && ins.length === nd.length) return { ...base, outcome: 'match' };
  // ndisasm lacks the alias's template and stops after one byte.
  if (ins.alias && nd.length === 1 && (ndText.startsWith('db ') || PREFIX_WORDS.has(ndText))) {
    const e = expectFromTwin(buf, pos, bits, ip, ins);
    if (normalize(ours) === normalize(e.text) && ins.length === e.length) return { ...base, outcome: 'alias', detail: ins.alias };
    return { ...base, outcome: 'fail', detail: `alias ${ins.alias}: expected ${e.length} "${e.text}" from twin` };
  }
  const hint = hintExtension(ins, ndText, nd.length);
  if (hint) return { ...base, ...hint };
  // A 66 prefix on a short branch truncates the target to 16 bits on hardware
  // (and in `target`); ndisasm wraps it at the mode's width instead.
  const rel = ins.operands[0];
  if (rel?.kind === 'rel' && rel.size === 1 && ins.opSize !== bits && nd.length === ins.length &&
      ndText.replace(/0x[0-9a-f]+$/, '') === normalize(ours).replace(/0x[0-9a-f]+$/, '')) {
    return { ...base, outcome: 'known-divergence', detail: 'short branch target wrap with 66 prefix' };
  }
  // ndisasm has no template for these operand sizes and prints the prefix alone.
  if ((PREFIX_WORDS.has(ndText) || ndText === 'db 0x0f') && nd.length === 1 && /^(bswap|movzx|movsx)$/.test(ins.mnemonic)) {
    return { ...base, outcome: 'known-divergence', detail: 'ndisasm has no template for this operand size' };
  }
  return { ...base, outcome: 'fail', detail: `ndisasm: ${nd.length} ${ndText}` };
}


/** Names ndisasm gives to hint-space encodings of extensions this CPU does not have. */
const HINT_EXTENSIONS = new Set(['bndldx', 'bndstx', 'bndmov', 'bndcl', 'bndcu', 'bndcn', 'bndmk', 'rdsspd', 'cldemote']);

/**
 * 0F 18-1F where ndisasm names an MPX, CET or CLDEMOTE instruction: the CPU
 * runs a NOP and we print hint_nopN. Checked: the name is the hint's, the
 * length is ndisasm's, and the memory operand (if any) prints the same.
 */
function hintExtension(ins: Instr, ndText: string, ndLength: number): Pick<Verdict, 'outcome' | 'detail'> | null {
  if (ins.opcode < 0x0f18 || ins.opcode > 0x0f1f || !HINT_EXTENSIONS.has(mnemonicOf(ndText))) return null;
  const ours = normalize(formatInstr(ins));
  const bracket = (t: string): string => /\[[^\]]*\]/.exec(t)?.[0] ?? '';
  const ok = ins.mnemonic === hintName(ins.opcode, ins.ext) && ins.length === ndLength && bracket(ours) === fromMib(bracket(ndText));
  return ok
    ? { outcome: 'known-divergence', detail: 'ndisasm names an MPX/CET/CLDEMOTE form; the CPU runs a hint NOP' }
    : { outcome: 'fail', detail: `hint space: ndisasm ${ndLength} ${ndText}` };
}

/** bndldx/bndstx print MPX's "[base+disp,index]"; rewrite it as "[base+index+disp]". */
function fromMib(m: string): string {
  const r = /^\[((?:\w+ )?(?:[a-z]s:)?)([a-z]+)?([+-]?0x[0-9a-f]+)?,([^\]]+)\]$/.exec(m);
  if (!r) return m;
  const [, pre, base, disp, index] = r;
  if (!base) return `[${pre}${index}${disp ? (disp.startsWith('-') ? disp : '+' + disp.replace(/^\+/, '')) : ''}]`;
  return `[${pre}${base}+${index}${disp ?? ''}]`;
}
