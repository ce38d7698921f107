// Which interception hook an instruction can call. The engine starts a new
// block at every instruction whose hook is installed, so that when the hook
// runs, the count of retired instructions (and the TSC derived from it) is
// exact: a hook sees the same count whether the guest is run or stepped.
import type { Instr } from '../decode/instr';
import type { CpuIntercept } from './intercept';

export type InstrHookKey = Exclude<keyof CpuIntercept, 'exception' | 'interrupt'>;

const BY_MNEMONIC: Readonly<Record<string, InstrHookKey>> = {
  cpuid: 'cpuid', hlt: 'hlt', invd: 'invd', wbinvd: 'wbinvd', invlpg: 'invlpg', rdpmc: 'rdpmc', rdtsc: 'rdtsc', rdtscp: 'rdtscp',
  in: 'io', out: 'io', insb: 'io', insw: 'io', insd: 'io', outsb: 'io', outsw: 'io', outsd: 'io',
  rdmsr: 'rdmsr', wrmsr: 'wrmsr',
  lgdt: 'descTable', lidt: 'descTable', sgdt: 'descTable', sidt: 'descTable', lldt: 'descTable', ltr: 'descTable', sldt: 'descTable', str: 'descTable',
  smsw: 'smsw', lmsw: 'movToCr', clts: 'movToCr',
  monitor: 'monitor', mwait: 'mwait', pause: 'pause', xsetbv: 'xsetbv',
  pushf: 'pushf', pushfw: 'pushf', pushfd: 'pushf', popf: 'popf', popfw: 'popf', popfd: 'popf',
  cli: 'cli', sti: 'sti', iret: 'iret', iretw: 'iret', iretd: 'iret',
  vmcall: 'vmx', vmlaunch: 'vmx', vmresume: 'vmx', vmxoff: 'vmx', vmxon: 'vmx', vmclear: 'vmx', vmptrld: 'vmx', vmptrst: 'vmx',
  vmread: 'vmx', vmwrite: 'vmx', invept: 'vmx', invvpid: 'vmx', vmfunc: 'vmx', getsec: 'vmx',
};

/** The hook `ins` may call, or null. */
export function hookKeyOf(ins: Instr): InstrHookKey | null {
  if (ins.invalid !== undefined) return null;
  if (ins.mnemonic === 'mov') {
    for (const o of ins.operands) {
      if (o.kind === 'creg') return ins.operands[0] === o ? 'movToCr' : 'movFromCr';
      if (o.kind === 'dreg') return 'movDr';
      if (o.kind === 'sreg' && o !== ins.operands[0]) return 'segRead';
    }
    return null;
  }
  if (ins.mnemonic === 'push' && ins.operands[0]?.kind === 'sreg') return 'segRead';
  return BY_MNEMONIC[ins.mnemonic] ?? null;
}

/** A bit per installed instruction hook, so the engine can tell when the set changed. */
export function hookSignature(intercept: CpuIntercept): number {
  let sig = 0;
  let bit = 1;
  for (const key of HOOK_KEYS) {
    if (intercept[key] !== undefined) sig |= bit;
    bit <<= 1;
  }
  return sig;
}

const HOOK_KEYS: readonly InstrHookKey[] = [...new Set(Object.values(BY_MNEMONIC)), 'movFromCr', 'movDr', 'segRead'];
