// The Registers scope: the live guest state in the vCPU's CPU (while stopped,
// the VMCS guest-state area holds only what the last VM exit saved). Under a
// software technique it is the real processor the guest runs on, deprivileged.
import type { Vm } from '../../vmm/vtx/index';
import type { Cpu } from '../../x86/cpu/cpu';
import type { SegReg } from '../../x86/cpu/segment';
import type { FormatOptions, VarNode } from './node';
import { fieldNodes, type BitField } from './bits';
import { fmtNum, group, hex, leaf, parseSized } from './format';
import { ACCESS_RIGHTS_FIELDS, CR0_FIELDS, CR3_FIELDS, CR4_FIELDS, DR6_FIELDS, DR7_FIELDS, EFLAGS_FIELDS, MSR_NAMES } from './x86bits';
import { previousFor } from './snapshot';

const GPR = ['EAX', 'ECX', 'EDX', 'EBX', 'ESP', 'EBP', 'ESI', 'EDI'] as const;
const SEGMENTS = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'] as const;

/** EFLAGS bits a debugger write may change: VM switches the CPU mode, which a bare flags write does not re-derive. */
const EFLAGS_REFUSED: Readonly<Record<string, string>> = {
  VM: 'changing EFLAGS.VM switches to or from virtual-8086 mode; the segment registers and CPL would not follow — let guest code (IRET) do it',
};

const SELECTOR_REASON = 'a selector load reads the descriptor from the GDT/LDT into the hidden base, limit and attributes; writing the selector alone would leave them inconsistent — load it from guest code';
const CR_REASON = 'CR0/CR3/CR4 drive paging and the VMM virtualizes them (guest/host masks, read shadows, EPT or shadow tables); change them from guest code, or the VMCS fields at an exit';
const DR_REASON = 'the CPU derives its breakpoint tables from DR0-DR7 when guest code writes them; use the debugger\'s breakpoints (data breakpoints) instead';
const MSR_REASON = 'MSR writes have side effects (the TSC moves, the VMCS copies of SYSENTER/PAT/EFER would go stale); write them from guest code';
const TABLE_REASON = 'descriptor-table registers are loaded by LGDT/LIDT/LLDT/LTR from guest code';

/** MSRs that exist only through handlers (not in the stored list), checked with has(). */
const HANDLER_MSRS = [0x10, 0x1b, 0x3a, 0x1d9, 0xc0000103];

/** Flags the session's expression evaluator knows by name (cf, zf, …). */
const EXPR_FLAGS = new Set(['CF', 'PF', 'AF', 'ZF', 'SF', 'TF', 'IF', 'DF', 'OF', 'NT', 'RF', 'VM', 'AC']);

/**
 * The expression (src/debug/expr.ts, lower-case register names) that reads a
 * register key, or undefined when the evaluator has no name for it (hidden
 * segment parts, descriptor tables, MSRs).
 */
function exprName(key: string): string | undefined {
  if (/^(E[A-D]X|E[SB]P|E[SD]I|EIP|EFLAGS|CR[0234]|DR[0-367])$/.test(key)) return key.toLowerCase();
  const seg = /^(ES|CS|SS|DS|FS|GS)\.selector$/.exec(key);
  return seg === null ? undefined : seg[1].toLowerCase();
}

function vcpuOf(vm: Vm, i: number): Cpu {
  const v = vm.vcpus[i];
  if (v === undefined) throw new RangeError(`no vCPU ${i}`);
  return v.cpu;
}

/** MSR indices the simulated CPU has, ascending. */
export function msrIndices(cpu: Cpu): number[] {
  const set = new Set<number>(Object.keys(cpu.msrs.snapshot()).map((k) => parseInt(k, 16)));
  for (const i of HANDLER_MSRS) if (cpu.msrs.has(i)) set.add(i);
  return [...set].sort((a, b) => a - b);
}

function segList(cpu: Cpu): [string, SegReg][] {
  return [...SEGMENTS.map((n, i): [string, SegReg] => [n, cpu.seg[i]]), ['LDTR', cpu.ldtr], ['TR', cpu.tr]];
}

/** Every value the view shows, by key: what a stop snapshot keeps. */
export function readRegisters(vm: Vm, vcpuIndex: number): Map<string, number | bigint> {
  return readCpuRegisters(vcpuOf(vm, vcpuIndex));
}

/** readRegisters for a processor. */
export function readCpuRegisters(c: Cpu): Map<string, number | bigint> {
  const m = new Map<string, number | bigint>();
  GPR.forEach((n, i) => m.set(n, c.r[i] >>> 0));
  m.set('EIP', c.eip >>> 0);
  m.set('EFLAGS', c.eflags >>> 0);
  for (const [n, s] of segList(c)) {
    m.set(`${n}.selector`, s.selector);
    m.set(`${n}.base`, s.base >>> 0);
    m.set(`${n}.limit`, s.limit >>> 0);
    m.set(`${n}.attributes`, s.attr >>> 0);
  }
  m.set('GDTR.base', c.gdtr.base >>> 0);
  m.set('GDTR.limit', c.gdtr.limit >>> 0);
  m.set('IDTR.base', c.idtr.base >>> 0);
  m.set('IDTR.limit', c.idtr.limit >>> 0);
  m.set('CR0', c.cr0 >>> 0);
  m.set('CR2', c.cr2 >>> 0);
  m.set('CR3', c.cr3 >>> 0);
  m.set('CR4', c.cr4 >>> 0);
  c.dr.forEach((v, i) => m.set(`DR${i}`, v >>> 0));
  for (const i of msrIndices(c)) {
    const v = c.msrs.read(i);
    if (v !== undefined) m.set(`MSR ${hex(i)}`, v);
  }
  return m;
}

/**
 * What the guest reads from CR0, CR3 and CR4 where that differs from the
 * real registers (VMCS read shadows and shadow paging; a software VMM's
 * virtual CPU): each register gets a "guest view" child.
 */
export interface GuestControlView {
  read(): { cr0: number; cr3: number; cr4: number };
  /** The hover text of each guest value. */
  notes: Readonly<Record<'cr0' | 'cr3' | 'cr4', string>>;
}

interface Ctx {
  guest?: GuestControlView;
  cpu: Cpu;
  fmt: FormatOptions;
  prev?: ReadonlyMap<string, number | bigint>;
}

function changed(ctx: Ctx, key: string, now: number | bigint): boolean | undefined {
  if (ctx.prev === undefined) return undefined;
  const before = ctx.prev.get(key);
  return before !== undefined && before !== now ? true : undefined;
}

function prevNum(ctx: Ctx, key: string): number | undefined {
  const v = ctx.prev?.get(key);
  return typeof v === 'number' ? v : undefined;
}

function withChanged(node: VarNode, ctx: Ctx, key: string, now: number | bigint): VarNode {
  if (changed(ctx, key, now)) node.changed = true;
  return node;
}

/** A register node: value, optional decoded fields, editable through `write`. */
function regNode(ctx: Ctx, key: string, label: string, bits: number, read: () => number, opts: {
  fields?: readonly BitField[]; write?: (v: number) => void; reason?: string; type?: string; refuse?: (f: BitField) => string | undefined; extra?: () => VarNode[];
} = {}): VarNode {
  const v = read();
  const node: VarNode = {
    name: label,
    value: fmtNum(v, bits, ctx.fmt),
    type: opts.type ?? `u${bits}`,
    hint: { kind: 'property', attributes: [] },
  };
  const expr = exprName(key);
  if (expr !== undefined) node.evaluateName = expr;
  const write = opts.write;
  if (write !== undefined) {
    node.set = (text: string): string => {
      write(parseSized(text, bits));
      return fmtNum(read(), bits, ctx.fmt);
    };
  } else {
    node.hint = { kind: 'property', attributes: ['readOnly'] };
    if (opts.reason !== undefined) node.readOnlyReason = opts.reason;
  }
  const fields = opts.fields;
  const extra = opts.extra;
  if (fields !== undefined || extra !== undefined) {
    node.children = () => [
      ...(fields === undefined ? [] : fieldNodes(read(), fields, ctx.fmt, { previous: prevNum(ctx, key), write, read, refuse: opts.refuse }).map((n) => {
        if (key === 'EFLAGS' && EXPR_FLAGS.has(n.name)) n.evaluateName = n.name.toLowerCase();
        return n;
      })),
      ...(extra === undefined ? [] : extra()),
    ];
  }
  return withChanged(node, ctx, key, v);
}

function segmentNode(ctx: Ctx, name: string, s: SegReg, reason: string): VarNode {
  const k = (p: string): string => `${name}.${p}`;
  const attrs = ACCESS_RIGHTS_FIELDS;
  const node: VarNode = {
    name,
    value: `${fmtNum(s.selector, 16, ctx.fmt)} (base ${fmtNum(s.base, 32, ctx.fmt)}, limit ${fmtNum(s.limit, 32, ctx.fmt)}${(s.attr & 0x10000) !== 0 ? ', unusable' : `, DPL ${(s.attr >> 5) & 3}`})`,
    type: 'segment register',
    ...(exprName(k('selector')) !== undefined ? { evaluateName: exprName(k('selector')) } : {}),
    hint: { kind: 'property', attributes: ['readOnly'] },
    readOnlyReason: reason,
    children: () => [
      regNode(ctx, k('selector'), 'selector', 16, () => s.selector, {
        reason,
        fields: [
          { name: 'RPL', lsb: 0, width: 2, description: 'requested privilege level' },
          { name: 'TI', lsb: 2, values: { 0: 'GDT', 1: 'LDT' }, description: 'table indicator' },
          { name: 'index', lsb: 3, width: 13, description: 'descriptor index' },
        ],
      }),
      regNode(ctx, k('base'), 'base (hidden)', 32, () => s.base, { reason }),
      regNode(ctx, k('limit'), 'limit (hidden)', 32, () => s.limit, { reason }),
      regNode(ctx, k('attributes'), 'attributes (hidden, VMX access-rights layout)', 32, () => s.attr, { fields: attrs, reason }),
    ],
  };
  for (const p of ['selector', 'base', 'limit', 'attributes']) {
    const now = p === 'selector' ? s.selector : p === 'base' ? s.base >>> 0 : p === 'limit' ? s.limit >>> 0 : s.attr >>> 0;
    if (changed(ctx, k(p), now)) node.changed = true;
  }
  return node;
}

function tableNode(ctx: Ctx, name: 'GDTR' | 'IDTR', t: () => { base: number; limit: number }): VarNode {
  const cur = t();
  const node = group(name, `base ${fmtNum(cur.base, 32, ctx.fmt)}, limit ${fmtNum(cur.limit, 16, ctx.fmt)}`, () => [
    regNode(ctx, `${name}.base`, 'base', 32, () => t().base, { reason: TABLE_REASON }),
    regNode(ctx, `${name}.limit`, 'limit', 16, () => t().limit, { reason: TABLE_REASON }),
  ], { type: 'descriptor-table register', readOnlyReason: TABLE_REASON });
  if (changed(ctx, `${name}.base`, cur.base >>> 0) || changed(ctx, `${name}.limit`, cur.limit >>> 0)) node.changed = true;
  return node;
}

/** CR0/CR3/CR4 as the guest reads them. */
function guestView(ctx: Ctx, which: 'cr0' | 'cr3' | 'cr4'): VarNode[] {
  const g = ctx.guest;
  return g === undefined ? [] : [leaf('guest view', fmtNum(g.read()[which], 32, ctx.fmt), { type: g.notes[which] })];
}

/** Under VT-x: host-owned bits come from the read shadows, CR3 is virtual under shadow paging. */
function vtxGuestView(vm: Vm, vcpuIndex: number): GuestControlView {
  return {
    read: () => vm.memory.guestRegs(vm.vcpus[vcpuIndex]),
    notes: { cr0: 'the value MOV from CR reads: owned bits from the read shadow', cr3: 'virtual CR3 under shadow paging, else the real one', cr4: 'the value MOV from CR reads: owned bits from the read shadow' },
  };
}

export function registerNodes(vm: Vm, vcpuIndex: number, fmt: FormatOptions, previous?: unknown): VarNode[] {
  return cpuRegisterNodes(vcpuOf(vm, vcpuIndex), vcpuIndex, fmt, previous, vtxGuestView(vm, vcpuIndex));
}

/** The Registers scope of a processor; `guest` adds what the guest reads from the control registers. */
export function cpuRegisterNodes(cpu: Cpu, vcpuIndex: number, fmt: FormatOptions, previous?: unknown, guest?: GuestControlView): VarNode[] {
  const ctx: Ctx = { cpu, fmt, prev: previousFor(previous, vcpuIndex)?.regs, ...(guest !== undefined ? { guest } : {}) };
  const c = cpu;
  const out: VarNode[] = GPR.map((n, r) => regNode(ctx, n, n, 32, () => c.r[r] >>> 0, { write: (v) => { c.r[r] = v | 0; } }));
  out.push(regNode(ctx, 'EIP', 'EIP', 32, () => c.eip >>> 0, { write: (v) => { c.eip = v >>> 0; }, type: 'u32 (offset in CS)' }));
  out.push(regNode(ctx, 'EFLAGS', 'EFLAGS', 32, () => c.eflags >>> 0, {
    fields: EFLAGS_FIELDS,
    write: (v) => {
      if (((v ^ c.eflags) & 0x20000) !== 0) throw new Error(`EFLAGS.VM cannot be changed here: ${EFLAGS_REFUSED.VM}`);
      c.setFlagsRaw(v);
    },
    refuse: (f) => EFLAGS_REFUSED[f.name],
  }));
  out.push(group('Segments', SEGMENTS.map((n, s) => `${n}=${fmtNum(c.seg[s].selector, 16, fmt)}`).join(' '), () => segList(c).map(([n, s]) => segmentNode(ctx, n, s, SELECTOR_REASON))));
  out.push(group('Descriptor tables', 'GDTR, IDTR, LDTR, TR', () => [
    tableNode(ctx, 'GDTR', () => c.gdtr),
    tableNode(ctx, 'IDTR', () => c.idtr),
    segmentNode(ctx, 'LDTR', c.ldtr, TABLE_REASON),
    segmentNode(ctx, 'TR', c.tr, TABLE_REASON),
  ]));
  out.push(group('Control registers', `CR0=${fmtNum(c.cr0, 32, fmt)} CR3=${fmtNum(c.cr3, 32, fmt)} CR4=${fmtNum(c.cr4, 32, fmt)}`, () => [
    regNode(ctx, 'CR0', 'CR0', 32, () => c.cr0 >>> 0, { fields: CR0_FIELDS, reason: CR_REASON, extra: () => guestView(ctx, 'cr0') }),
    regNode(ctx, 'CR2', 'CR2', 32, () => c.cr2 >>> 0, { write: (v) => { c.cr2 = v >>> 0; }, type: 'u32 (page-fault linear address)' }),
    regNode(ctx, 'CR3', 'CR3', 32, () => c.cr3 >>> 0, { fields: CR3_FIELDS, reason: CR_REASON, extra: () => guestView(ctx, 'cr3') }),
    regNode(ctx, 'CR4', 'CR4', 32, () => c.cr4 >>> 0, { fields: CR4_FIELDS, reason: CR_REASON, extra: () => guestView(ctx, 'cr4') }),
  ]));
  out.push(group('Debug registers', `DR6=${fmtNum(c.dr[6], 32, fmt)} DR7=${fmtNum(c.dr[7], 32, fmt)}`, () => c.dr.map((_, n) =>
    regNode(ctx, `DR${n}`, `DR${n}`, 32, () => c.dr[n] >>> 0, {
      reason: DR_REASON,
      ...(n === 6 || n === 4 ? { fields: DR6_FIELDS } : n === 7 || n === 5 ? { fields: DR7_FIELDS } : {}),
      ...(n === 4 || n === 5 ? { type: `u32 (alias of DR${n + 2} with CR4.DE clear)` } : {}),
    }))));
  out.push(msrGroup(ctx));
  return out;
}

function msrGroup(ctx: Ctx): VarNode {
  const c = ctx.cpu;
  const list = msrIndices(c);
  return group('MSRs', `${list.length} MSRs`, () => list.map((i) => {
    const key = `MSR ${hex(i)}`;
    const v = c.msrs.read(i) ?? 0n;
    const node = leaf(`${MSR_NAMES[i] ?? 'MSR'} (${hex(i)})`, fmtNum(v, 64, ctx.fmt), { type: 'u64 MSR', readOnlyReason: MSR_REASON });
    return withChanged(node, ctx, key, v);
  }));
}
