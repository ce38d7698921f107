// Reading the native flags goldens and knowing which flags the SDM defines.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CF = 0x001, PF = 0x004, AF = 0x010, ZF = 0x040, SF = 0x080, OF = 0x800;
export const STATUS = CF | PF | AF | ZF | SF | OF;

/** Registers EAX, EBX, ECX, EDX and EFLAGS, in that order. */
export type Regs = [number, number, number, number, number];

export interface GoldenCase { input: Regs; output: Regs }
export interface GoldenForm {
  group: string;
  size: 8 | 16 | 32;
  kind: string;
  bytes: Uint8Array;
  text: string;
  cases: GoldenCase[];
}

export const fixturesDir = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'fixtures', 'cpu-conformance');

export function loadGoldens(dir = fixturesDir): GoldenForm[] {
  const forms: GoldenForm[] = [];
  for (const name of readdirSync(dir).sort()) {
    const m = /^flags-(\w+)\.txt$/.exec(name);
    if (!m) continue;
    let form: GoldenForm | undefined;
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      if (line.startsWith('form ')) {
        const f = /^form (\d+) (\S+) ([0-9a-f]+) (.+)$/.exec(line);
        if (!f) throw new Error(`${name}: bad form line ${line}`);
        const size = Number(f[1]);
        if (size !== 8 && size !== 16 && size !== 32) throw new Error(`${name}: bad size ${size}`);
        form = { group: m[1], size, kind: f[2], bytes: Uint8Array.from(Buffer.from(f[3], 'hex')), text: f[4], cases: [] };
        forms.push(form);
        continue;
      }
      if (!form) throw new Error(`${name}: case before form`);
      const [ins, outs] = line.split(' > ');
      const input = ins.split(' ').map((h) => parseInt(h, 16)) as Regs;
      const output = outs.split(' ').map((h, i) => (h === '=' ? input[i] : parseInt(h, 16))) as Regs;
      if (input.length !== 5 || output.length !== 5) throw new Error(`${name}: bad case ${line}`);
      form.cases.push({ input, output });
    }
  }
  return forms;
}

/**
 * The instruction whose flags are recorded. Memory forms are sequences
 * ("mov [m], eax; add [m], ebx; mov eax, [m]"); the second one sets them.
 */
export function mainInstruction(form: GoldenForm): string {
  const parts = form.text.split('; ');
  return parts.length > 1 ? parts[1] : parts[0];
}

/** The count an instruction shifts or rotates by, after the 5-bit mask. */
function shiftCount(form: GoldenForm, input: Regs): number {
  const insn = mainInstruction(form);
  if (/, cl$/.test(insn)) return input[2] & 0x1f;
  const imm = /, (\d+)$/.exec(insn);
  if (imm) return Number(imm[1]) & 0x1f;
  return 0;
}

/**
 * Status flags whose value after the instruction the Intel SDM (vol. 2,
 * "Flags Affected" of each instruction) defines for this input. A flag the
 * instruction leaves unaffected counts as defined: it must keep its value.
 * The host that made the goldens is an AMD CPU, whose undefined flags differ
 * from Intel's, so only the defined ones are compared.
 */
export function definedFlags(form: GoldenForm, input: Regs): number {
  const op = mainInstruction(form).split(' ')[0];
  switch (op) {
    case 'add': case 'adc': case 'sub': case 'sbb': case 'cmp': case 'neg':
    case 'inc': case 'dec': case 'xadd': case 'cmpxchg':
      return STATUS;
    case 'and': case 'or': case 'xor': case 'test':
      // "The OF and CF flags are cleared; ... The state of the AF flag is undefined."
      return STATUS & ~AF;
    case 'shl': case 'shr': case 'sar': {
      // "If the count is 0, the flags are not affected. For a non-zero count,
      // the AF flag is undefined." OF is defined only for 1-bit shifts; CF is
      // undefined for SHL and SHR when the count is >= the operand size.
      const n = shiftCount(form, input);
      if (n === 0) return STATUS;
      let m = STATUS & ~AF;
      if (n !== 1) m &= ~OF;
      if (op !== 'sar' && n >= form.size) m &= ~CF;
      return m;
    }
    case 'rol': case 'ror': case 'rcl': case 'rcr': {
      // Only CF and OF are affected; "the OF flag is defined only for the
      // 1-bit rotates"; a masked count of 0 affects no flags.
      const n = shiftCount(form, input);
      if (n === 0 || n === 1) return STATUS;
      return STATUS & ~OF;
    }
    case 'shld': case 'shrd': {
      // Count 0: flags unaffected. Otherwise AF undefined, OF defined only for
      // 1-bit shifts. (Counts above the operand size are not generated.)
      const n = shiftCount(form, input);
      if (n === 0) return STATUS;
      return n === 1 ? STATUS & ~AF : STATUS & ~AF & ~OF;
    }
    case 'mul': case 'imul':
      // "The SF, ZF, AF, and PF flags are undefined."
      return CF | OF;
    case 'div': case 'idiv':
      // "The CF, OF, SF, ZF, AF, and PF flags are undefined."
      return 0;
    case 'bt': case 'bts': case 'btr': case 'btc':
      // "The ZF flag is unaffected. The OF, SF, AF, and PF flags are undefined."
      return CF | ZF;
    case 'bsf': case 'bsr':
      // "The CF, OF, SF, AF, and PF flags are undefined."
      return ZF;
    case 'daa': case 'das':
      // "The OF flag is undefined."
      return STATUS & ~OF;
    case 'aaa': case 'aas':
      // "The OF, SF, ZF, and PF flags are undefined."
      return AF | CF;
    case 'aam': case 'aad':
      // "The OF, AF, and CF flags are undefined."
      return SF | ZF | PF;
    default:
      // not, bswap, cbw/cwde/cwd/cdq, setcc, cmovcc: no flags affected.
      return STATUS;
  }
}
