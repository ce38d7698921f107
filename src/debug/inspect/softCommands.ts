// Debug-console commands about the software VMM (trap-and-emulate, binary
// translation, paravirt): its traps, holes, hypercalls and translated
// blocks, the registers of the real processor beside the virtual CPU, and a
// guest-virtual address walked through the guest's own tables.
import type { SoftVm } from '../../vmm/soft/index';
import { PV_HYPERCALLS } from '../../vmm/soft/index';
import { formatSoftStats } from '../../vmm/soft/stats-format';
import { CS } from '../../x86/cpu/cpu';
import { EFLAGS_BITS, setBitNames } from '../../x86/cpu/register-bits';
import type { FormatOptions } from './node';
import { fmtNum, group, hex, leaf, parseSized } from './format';
import { cpuRegisterNodes } from './registers';
import { blockNode, holesNode, techniqueNodes } from './technique';
import { virtualControlView, virtualCpuNodes } from './virtualCpu';
import type { CommandResult } from './commands';

interface SoftCommand {
  name: string;
  usage: string;
  help: string;
  run: (vm: SoftVm, args: string[], fmt: FormatOptions) => CommandResult;
}

const SOFT_COMMANDS: SoftCommand[] = [
  {
    name: 'help', usage: 'help', help: 'this list',
    run: () => ({ result: SOFT_COMMANDS.map((c) => `${c.usage.padEnd(42)} ${c.help}`).join('\n') }),
  },
  {
    name: 'regs', usage: 'regs', help: 'the real registers, and the virtual CPU the guest believes in',
    run: (vm, _a, fmt) => {
      const c = vm.cpu;
      const v = vm.v;
      const names = ['EAX', 'ECX', 'EDX', 'EBX', 'ESP', 'EBP', 'ESI', 'EDI'];
      const line1 = names.map((n, r) => `${n}=${fmtNum(c.r[r], 32, fmt)}`).join(' ');
      const line2 = `EIP=${fmtNum(c.eip, 32, fmt)} EFLAGS=${fmtNum(c.eflags, 32, fmt)} [${setBitNames(EFLAGS_BITS, c.eflags).join(' ')}] IOPL=${(c.eflags >>> 12) & 3} CS=${fmtNum(c.seg[CS].selector, 16, fmt)} SS=${fmtNum(c.seg[2].selector, 16, fmt)} CPL=${c.cpl}`;
      vm.syncCpl();
      const line3 = `virtual CPU: CPL=${v.cpl} IF=${v.interrupts ? 1 : 0} IOPL=${v.iopl} CR0=${fmtNum(v.cr0, 32, fmt)} CR3=${fmtNum(v.cr3, 32, fmt)}${v.halted ? ' halted' : ''}`;
      return { result: [line1, line2, line3].join('\n'), node: group('vCPU 0 registers', line2, () => [...cpuRegisterNodes(c, 0, fmt, undefined, virtualControlView(vm)), group('Virtual CPU', line3, () => virtualCpuNodes(vm, fmt))]) };
    },
  },
  {
    name: 'traps', usage: 'traps', help: 'traps into the VMM by kind, callouts and hypercalls, with modelled cycles',
    run: (vm, _a, fmt) => ({ result: formatSoftStats(vm.stats.report(), vm.technique).join('\n'), node: group('technique', vm.technique, () => techniqueNodes(vm, fmt)) }),
  },
  {
    name: 'holes', usage: 'holes [N]', help: 'the last N virtualization holes (default 10)',
    run: (vm, args, fmt) => {
      const count = args[0] === undefined ? 10 : parseSized(args[0], 32);
      if (count < 1) throw new Error('holes: N must be at least 1');
      const all = vm.holes;
      if (all.length === 0) return { result: `no virtualization hole so far under ${vm.technique}`, node: holesNode(vm, fmt) };
      const first = Math.max(0, all.length - count);
      const lines = all.slice(first).map((h, i) => `#${first + i + 1} ${hex(h.rip, 8)} ${h.instruction}: saw ${h.saw}; expected ${h.expected}`);
      return { result: [`${all.length} hole${all.length === 1 ? '' : 's'} so far${first > 0 ? `, the last ${all.length - first}` : ''}:`, ...lines].join('\n'), node: holesNode(vm, fmt) };
    },
  },
  {
    name: 'hypercalls', usage: 'hypercalls', help: 'the paravirtual hypercall table: number, name, calls (paravirt)',
    run: (vm) => {
      if (vm.pv === null) throw new Error(`hypercalls: the guest runs under ${vm.technique}; only the paravirt technique has hypercalls (docs/techniques.md)`);
      const calls = new Map(vm.stats.report().hypercalls.map((h) => [h.key, h]));
      const lines = PV_HYPERCALLS.map((name, nr) => `${String(nr).padStart(3)} ${name.padEnd(16)} ${String(calls.get(name)?.count ?? 0).padStart(8)} calls`);
      return { result: [' NR NAME                  CALLS', ...lines].join('\n'), node: group('hypercalls', `${lines.length} hypercalls`, () => PV_HYPERCALLS.map((name, nr) => leaf(`${nr} ${name}`, `${calls.get(name)?.count ?? 0} calls`))) };
    },
  },
  {
    name: 'block', usage: 'block [ADDR]', help: 'the translated block holding ADDR (default EIP): original and translated (binary-translation)',
    run: (vm, args) => {
      const tr = vm.translator;
      if (tr === null) throw new Error(`block: the guest runs under ${vm.technique}; only binary-translation translates code`);
      const eip = (vm.cpu.seg[CS].base + vm.cpu.eip) >>> 0;
      const at = args[0] === undefined ? eip : parseSized(args[0], 32);
      const b = tr.blockAt(at);
      if (b === undefined) throw new Error(`block: no translated block holds ${hex(at)} (user code is never translated; kernel code is translated before it first runs)`);
      const lines = b.instrs.map((i) => `${i.address === eip ? '>' : ' '} ${hex(i.address, 8)}  ${i.text.padEnd(28)} →  ${i.callout ? `callout: ${i.translated}` : 'native'}`);
      const node = blockNode(`block #${b.id}`, b, eip);
      return { result: [`block #${b.id} at ${hex(b.start, 8)}: ${node.value.replace(/^0x[0-9A-F]+: /, '')}`, ...lines].join('\n'), node };
    },
  },
  {
    name: 'translate', usage: 'translate ADDR', help: 'walk a guest-virtual address through the guest\'s own page tables',
    run: (vm, args, fmt) => {
      if (args[0] === undefined) throw new Error('translate needs an address, e.g. \'translate 0x1000\'');
      const gva = parseSized(args[0], 32);
      const r = vm.guest.resolve(gva, false, false, false);
      const paging = vm.shadow.guestPaging;
      const through = paging ? `the guest's tables at CR3 ${hex(vm.v.cr3)}` : 'no guest paging (GVA = GPA)';
      if (!r.ok) {
        const why = r.errorCode < 0 ? 'the guest\'s tables lead outside its RAM' : `the guest would take #PF, error code ${hex(r.errorCode)}`;
        return { result: `GVA ${hex(gva)} → not mapped through ${through}: ${why}`, node: leaf(`translate ${hex(gva)}`, 'not mapped') };
      }
      return {
        result: `GVA ${hex(gva)} → GPA ${hex(r.gpa)} (through ${through}) = HPA ${hex(r.gpa)} (guest RAM sits at host-physical = guest-physical)`,
        node: group(`translate ${hex(gva)}`, `GPA ${hex(r.gpa)}`, () => [leaf('GVA', fmtNum(gva, 32, fmt), { memoryReference: `gva:0x${gva.toString(16)}` }), leaf('GPA = HPA', fmtNum(r.gpa, 32, fmt), { memoryReference: `gpa:0x${r.gpa.toString(16)}` }), leaf('through', through)]),
      };
    },
  },
];

export const SOFT_COMMAND_NAMES: readonly string[] = SOFT_COMMANDS.map((c) => c.name);

/** Runs a console command for the software VMM; undefined when the first word is not one of its commands. */
export function evaluateSoftCommand(vm: SoftVm, text: string, fmt: FormatOptions): CommandResult | undefined {
  const m = /^\s*(\S+)\s*(.*)$/.exec(text);
  if (m === null) return undefined;
  const cmd = SOFT_COMMANDS.find((c) => c.name === m[1].toLowerCase());
  if (cmd === undefined) return undefined;
  const rest = m[2].trim();
  return cmd.run(vm, rest === '' ? [] : rest.split(/\s+/), fmt);
}
