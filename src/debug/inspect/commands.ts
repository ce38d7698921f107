// Debug-console commands about the VM (`help` lists them). Expressions over
// registers and memory are the session's evaluator; a line that is not one
// of these commands throws UnknownCommandError so the session can hand it on.
import type { Vm } from '../../vmm/vtx/index';
import { formatExitStats } from '../../vmm/vtx/stats-format';
import { formatExitLine } from '../../vmm/vtx/exit-format';
import { VMCS_FIELDS } from '../../vmm/vmx/fields';
import { CONTROL_SETS, decodeControls } from '../../vmm/vmx/controls';
import { decodeExitReason } from '../../vmm/vmx/exit-reasons';
import { summarizeExitQualification, EXCEPTION_MNEMONICS, INTERRUPTION_TYPES } from '../../vmm/vmx/qualifications';
import type { FormatOptions, VarNode } from './node';
import { fmtNum, group, hex, leaf, parse64, parseSized } from './format';
import { registerNodes } from './registers';
import { entryCheckSummary, fieldLabel, fieldNode, findField, formatField, vmcsNodes, vmcsWrite, writeNote } from './vmcs';
import { eptWalkNode, translationNode, translationText } from './paging';
import { statsNodes } from './stats';
import { ExitLog } from './exitLog';
import { EFLAGS_BITS, setBitNames } from '../../x86/cpu/register-bits';

export interface CommandResult {
  result: string;
  node?: VarNode;
}

/** The line is not a VM command (the session may evaluate it as an expression). */
export class UnknownCommandError extends Error {
  constructor(readonly command: string) {
    super(`unknown command '${command}' (type 'help' for the list)`);
    this.name = 'UnknownCommandError';
  }
}

interface Command {
  name: string;
  usage: string;
  help: string;
  run: (vm: Vm, vcpuIndex: number, args: string[], fmt: FormatOptions, rest: string) => CommandResult;
}

/** Interruption types `inject` accepts by name (SDM 25.8.3). */
const TYPE_NAMES: Readonly<Record<string, number>> = {
  external: 0, ext: 0, nmi: 2, hardware: 3, hw: 3, exception: 3, software: 4, int: 4, 'software-interrupt': 4,
  privileged: 5, int1: 5, 'software-exception': 6, swexc: 6,
};
const INJECT_TYPE_WORDS = ['external', 'nmi', 'hardware', 'software', 'privileged', 'software-exception'];
/** Exceptions that push an error code in protected mode. */
const WITH_ERROR_CODE = new Set([8, 10, 11, 12, 13, 14, 17, 21]);

function parseAddr(text: string | undefined, what: string): number {
  if (text === undefined || text === '') throw new Error(`${what} needs an address, e.g. '${what} 0x1000'`);
  return parseSized(text, 32);
}

const COMMANDS: Command[] = [
  {
    name: 'help', usage: 'help', help: 'this list',
    run: () => ({ result: COMMANDS.map((c) => `${c.usage.padEnd(42)} ${c.help}`).join('\n') }),
  },
  {
    name: 'regs', usage: 'regs', help: 'general registers, EIP and EFLAGS of the current vCPU',
    run: (vm, i, _a, fmt) => {
      const c = vm.vcpus[i].cpu;
      const names = ['EAX', 'ECX', 'EDX', 'EBX', 'ESP', 'EBP', 'ESI', 'EDI'];
      const flags = setBitNames(EFLAGS_BITS, c.eflags);
      const line1 = names.map((n, r) => `${n}=${fmtNum(c.r[r], 32, fmt)}`).join(' ');
      const line2 = `EIP=${fmtNum(c.eip, 32, fmt)} EFLAGS=${fmtNum(c.eflags, 32, fmt)} [${flags.join(' ')}] IOPL=${(c.eflags >>> 12) & 3} CS=${fmtNum(c.seg[1].selector, 16, fmt)} SS=${fmtNum(c.seg[2].selector, 16, fmt)} CPL=${c.cpl}`;
      return { result: `${line1}\n${line2}`, node: group(`vCPU ${i} registers`, line2, () => registerNodes(vm, i, fmt)) };
    },
  },
  {
    name: 'vmcs', usage: 'vmcs [FIELD [= VALUE]]', help: 'VMCS summary; one field by name or encoding; VMWRITE a field',
    run: (vm, i, args, fmt, rest) => {
      const vcpu = vm.vcpus[i];
      if (args.length === 0) {
        const v = vcpu.vmcs;
        const reason = decodeExitReason(v.get('VM_EXIT_REASON'));
        const q = v.get('EXIT_QUALIFICATION');
        const s = summarizeExitQualification(reason.basic, q, { gpa: v.get('GUEST_PHYSICAL_ADDRESS'), gla: v.get('GUEST_LINEAR_ADDRESS') });
        const lines = [
          `last exit: ${reason.summary}, qualification ${fmtNum(q, 32, fmt)}${s ? ` (${s})` : ''}`,
          `guest: RIP ${fmtNum(v.get('GUEST_RIP'), 32, fmt)} RSP ${fmtNum(v.get('GUEST_RSP'), 32, fmt)} RFLAGS ${fmtNum(v.get('GUEST_RFLAGS'), 32, fmt)} CR0 ${fmtNum(v.get('GUEST_CR0'), 32, fmt)} CR3 ${fmtNum(v.get('GUEST_CR3'), 32, fmt)} (as saved at the last VM exit)`,
          ...CONTROL_SETS.filter((c) => c.id !== 'tertiary').map((c) => `${c.title}: ${decodeControls(c.id, v.get(c.field)).summary}`),
          `VM-entry checks: ${entryCheckSummary(vcpu)}`,
        ];
        return { result: lines.join('\n'), node: group(`vCPU ${i} VMCS`, reason.summary, () => vmcsNodes(vm, i, fmt)) };
      }
      const m = /^([^\s=]+)\s*(?:=\s*|\s+)?(.*)$/.exec(rest.trim());
      const name = m?.[1] ?? args[0];
      const value = (m?.[2] ?? '').trim();
      const dot = name.indexOf('.');
      if (dot > 0) return vmcsBit(vm, i, name.slice(0, dot), name.slice(dot + 1), value, fmt);
      const f = findField(name);
      if (f === undefined) {
        const near = VMCS_FIELDS.filter((x) => x.name.includes(name.toUpperCase())).slice(0, 5).map((x) => x.name);
        throw new Error(`no VMCS field '${name}'${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}; VMREAD of an unsupported encoding fails with VM-instruction error 12`);
      }
      if (value !== '') {
        const note = vmcsWrite(vcpu, f, parse64(value));
        return { result: note, node: fieldNode(vm, i, f, fmt) };
      }
      return { result: `${fieldLabel(f)} = ${formatField(vcpu, f, fmt)} — ${f.description}`, node: fieldNode(vm, i, f, fmt) };
    },
  },
  {
    name: 'translate', usage: 'translate ADDR [read|write|fetch] [user]', help: 'walk GVA → GPA → HPA through guest tables, EPT or shadow tables',
    run: (vm, i, args, fmt) => {
      const gva = parseAddr(args[0], 'translate');
      const access = args.slice(1).find((a) => a === 'read' || a === 'write' || a === 'fetch') as 'read' | 'write' | 'fetch' | undefined;
      const bad = args.slice(1).find((a) => !['read', 'write', 'fetch', 'user'].includes(a));
      if (bad !== undefined) throw new Error(`translate: unknown option '${bad}' (read, write, fetch, user)`);
      const t = vm.translate(i, gva, { access: access ?? 'read', user: args.includes('user') });
      return { result: translationText(t), node: translationNode(t, fmt) };
    },
  },
  {
    name: 'ept', usage: 'ept GPA [read|write|fetch]', help: 'walk the EPT for a guest-physical address',
    run: (vm, _i, args, fmt) => {
      const gpa = parseAddr(args[0], 'ept');
      const ept = vm.memory.ept;
      if (ept === null) throw new Error(`ept: the VM runs with ${vm.memory.mode} paging, not EPT`);
      const kind = (args[1] ?? 'read') as 'read' | 'write' | 'fetch';
      if (!['read', 'write', 'fetch'].includes(kind)) throw new Error(`ept: unknown access '${args[1]}' (read, write, fetch)`);
      const w = ept.tables.walk(gpa, { kind }, false);
      const node = eptWalkNode(`ept ${hex(gpa)}`, w, fmt);
      return { result: `${node.value} (${w.steps.map((s) => s.name).join(' → ')})`, node };
    },
  },
  {
    name: 'exits', usage: 'exits [N]', help: 'the last N VM exits (default 10)',
    run: (vm, _i, args) => {
      const n = args[0] === undefined ? 10 : parseSized(args[0], 32);
      if (n < 1) throw new Error('exits: N must be at least 1');
      const log = ExitLog.of(vm);
      if (log === undefined) throw new Error('exits: no exit log for this VM (the session creates one with new ExitLog(vm) before running)');
      const list = log.recent(n);
      if (list.length === 0) return { result: 'no VM exits yet' };
      const lines = list.map((e) => formatExitLine(e));
      return {
        result: lines.join('\n'),
        node: group(`last ${list.length} exits`, `of ${log.total}`, () => list.map((e) => ({
          ...leaf(`#${e.sequence} ${e.name}`, `RIP ${hex(e.rip)}${e.summary ? ` ${e.summary}` : ''}`),
          children: () => Object.entries(e).map(([k, v]) => leaf(k, typeof v === 'number' && k !== 'sequence' && k !== 'vcpu' && k !== 'reason' && k !== 'instructionLength' ? hex(v) : String(v))),
        }))),
      };
    },
  },
  {
    name: 'stats', usage: 'stats', help: 'exit statistics as perf kvm stat report prints them',
    run: (vm, _i, _a, fmt) => ({ result: formatExitStats(vm.stats.report()).join('\n'), node: group('exit statistics', `${vm.stats.report().total} exits`, () => statsNodes(vm, fmt)) }),
  },
  {
    name: 'inject', usage: 'inject VECTOR [TYPE] [ERRORCODE]', help: `queue an event for the next VM entry (TYPE: ${INJECT_TYPE_WORDS.join(', ')} or 0-7)`,
    run: (vm, i, args, fmt) => inject(vm, i, args, fmt),
  },
];

/** `vmcs FIELD.BIT`: one named bit field of a packed VMCS field (what evaluateName of a bit child says). */
function vmcsBit(vm: Vm, i: number, fieldName: string, bitName: string, value: string, fmt: FormatOptions): CommandResult {
  const f = findField(fieldName);
  if (f === undefined) throw new Error(`no VMCS field '${fieldName}'`);
  const parent = fieldNode(vm, i, f, fmt);
  const bits = parent.children?.() ?? [];
  const node = bits.find((b) => b.name.toLowerCase() === bitName.toLowerCase());
  if (node === undefined) throw new Error(`${fieldLabel(f)} has no bit field '${bitName}'${bits.length ? ` (fields: ${bits.map((b) => b.name).join(', ')})` : ''}`);
  if (value !== '') {
    if (node.set === undefined) throw new Error(`${fieldLabel(f)}.${node.name} cannot be written: ${node.readOnlyReason ?? 'read-only'}`);
    node.set(value);
    const now = fieldNode(vm, i, f, fmt).children?.().find((b) => b.name === node.name)?.value ?? '?';
    return { result: `${fieldLabel(f)}.${node.name} = ${now}. ${writeNote(vm.vcpus[i], f)}` };
  }
  return { result: `${fieldLabel(f)}.${node.name} = ${node.value}${node.type ? ` (${node.type})` : ''}`, node };
}

function inject(vm: Vm, i: number, args: string[], fmt: FormatOptions): CommandResult {
  if (args.length === 0 || args.length > 3) throw new Error('usage: inject VECTOR [TYPE] [ERRORCODE]');
  const vector = parseSized(args[0], 32);
  if (vector > 255) throw new Error(`inject: vector ${vector} is not 0-255`);
  let type: number;
  if (args[1] === undefined) type = vector === 2 ? 2 : vector < 32 ? 3 : 0;
  else if (/^[0-7]$/.test(args[1])) type = Number(args[1]);
  else {
    const t = TYPE_NAMES[args[1].toLowerCase()];
    if (t === undefined) throw new Error(`inject: unknown type '${args[1]}' (${INJECT_TYPE_WORDS.join(', ')} or 0-7)`);
    type = t;
  }
  const typeName = INTERRUPTION_TYPES[type];
  let errorCode = args[2] === undefined ? -1 : parseSized(args[2], 32);
  const pe = (vm.vcpus[i].cpu.cr0 & 1) !== 0;
  // The checks VM entry would make on VM_ENTRY_INTR_INFO_FIELD (SDM 27.2.1.3), so the entry does not fail later.
  if (type === 1 || type === 7) throw new Error(`inject: type ${type} (${typeName}) cannot be injected (reserved, or other event which needs vector 0 and is not supported)`);
  if (type === 2 && vector !== 2) throw new Error(`inject: an NMI (type 2) must use vector 2, not ${vector}`);
  if (type === 3 && vector > 31) throw new Error(`inject: a hardware exception (type 3) needs a vector below 32, not ${vector}`);
  if (type === 5 && vector !== 1) throw new Error('inject: a privileged software exception (type 5) is INT1, vector 1');
  if (type === 6 && vector !== 3 && vector !== 4) throw new Error('inject: a software exception (type 6) is INT3 (vector 3) or INTO (vector 4)');
  if (errorCode >= 0 && type !== 3) throw new Error(`inject: only hardware exceptions push an error code, not a ${typeName}`);
  if (type === 3) {
    const needs = pe && WITH_ERROR_CODE.has(vector);
    if (errorCode >= 0 && !needs) throw new Error(`inject: vector ${vector} (${EXCEPTION_MNEMONICS[vector] ?? '?'}) pushes no error code${pe ? '' : ' in real mode'}; drop the error code`);
    if (errorCode > 0xffff) throw new Error(`inject: error code ${hex(errorCode)} has bits 31:16 set, which VM entry refuses`);
    if (needs && errorCode < 0) errorCode = 0;
  }
  const events = vm.interrupts.vcpus[i];
  if (events === undefined) throw new Error(`inject: no event state for vCPU ${i}`);
  // The VMM's queue, not VM_ENTRY_INTR_INFO_FIELD directly: every VM exit clears that field's
  // valid bit, so a value written while the guest is stopped mid-run would be lost at the next exit.
  if (type === 0) events.queueInterrupt(vector, 'debugger');
  else if (type === 2) events.queueNmi();
  else if (type === 3) events.queueException(vector, errorCode, 'debugger');
  else {
    events.queue.push({ type, vector, errorCode: -1, instructionLength: type === 4 ? 2 : 1, source: 'debugger' });
    events.nudge();
  }
  const what = `${typeName} vector ${fmtNum(vector, 8, fmt)}${EXCEPTION_MNEMONICS[vector] && type !== 0 && type !== 4 ? ` (${EXCEPTION_MNEMONICS[vector]})` : ''}${errorCode >= 0 ? ` error code ${fmtNum(errorCode, 32, fmt)}` : ''}`;
  const when = type === 0 ? 'when the guest accepts interrupts (RFLAGS.IF = 1, no STI/MOV SS blocking; an interrupt window is armed until then)'
    : type === 2 ? 'when the guest blocks no NMIs (an NMI window is armed until then)'
      : type >= 4 ? `at the next VM entry, as if an ${type === 4 ? 'INT n (2 bytes)' : type === 5 ? 'INT1 (1 byte)' : 'INT3/INTO (1 byte)'} were at the guest's RIP: the return address is RIP + ${type === 4 ? 2 : 1}`
        : 'at the next VM entry';
  return { result: `queued ${what} for vCPU ${i}; the VMM injects it through VM_ENTRY_INTR_INFO_FIELD ${when}` };
}

/**
 * Runs one console command for vCPU `vcpuIndex`. Throws UnknownCommandError
 * when the first word is not a command, Error with the reason for bad input.
 */
export function evaluateCommand(vm: Vm, vcpuIndex: number, text: string, fmt: FormatOptions): CommandResult {
  if (vm.vcpus[vcpuIndex] === undefined) throw new RangeError(`no vCPU ${vcpuIndex}`);
  const line = text.trim();
  const m = /^(\S+)\s*(.*)$/.exec(line);
  if (m === null) throw new UnknownCommandError('');
  const cmd = COMMANDS.find((c) => c.name === m[1].toLowerCase());
  if (cmd === undefined) throw new UnknownCommandError(m[1]);
  const rest = m[2];
  const args = rest === '' ? [] : rest.split(/\s+/);
  return cmd.run(vm, vcpuIndex, args, fmt, rest);
}

/** True when the line starts with one of the commands (the session can route it here). */
export function isCommand(text: string): boolean {
  const w = /^\s*(\S+)/.exec(text)?.[1]?.toLowerCase();
  return w !== undefined && COMMANDS.some((c) => c.name === w);
}

export const COMMAND_NAMES: readonly string[] = COMMANDS.map((c) => c.name);

/** Completions of the whole line typed so far (each candidate is a full line). */
export function completions(text: string): string[] {
  const m = /^(\s*)(\S*)(\s+)?(.*)$/.exec(text);
  if (m === null) return [];
  const [, lead, word, space, rest] = m;
  if (space === undefined) return COMMANDS.filter((c) => c.name.startsWith(word.toLowerCase())).map((c) => `${lead}${c.name}`);
  const head = `${lead}${word}${space}`;
  const cmd = word.toLowerCase();
  if (cmd === 'vmcs' && !/\s|=/.test(rest)) {
    const p = rest.toUpperCase();
    return VMCS_FIELDS.filter((f) => f.name.startsWith(p)).map((f) => `${head}${f.name}`);
  }
  if (cmd === 'inject') {
    const parts = rest.split(/\s+/);
    if (parts.length === 2) return INJECT_TYPE_WORDS.filter((t) => t.startsWith(parts[1].toLowerCase())).map((t) => `${head}${parts[0]} ${t}`);
  }
  if (cmd === 'translate' || cmd === 'ept') {
    const parts = rest.split(/\s+/);
    if (parts.length === 2) return ['read', 'write', 'fetch', ...(cmd === 'translate' ? ['user'] : [])].filter((o) => o.startsWith(parts[1])).map((o) => `${head}${parts[0]} ${o}`);
  }
  return [];
}
