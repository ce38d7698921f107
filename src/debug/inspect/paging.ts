// The Page tables scope: the guest's own 32-bit tables for its current CR3,
// the EPT (PML4 → PDPT → PD → PT) and, under shadow paging, the VMM's shadow
// tables. Tables are paged: `indexedCount` and `childrenRange` build only the
// entries asked for; `children` lists only the present ones.
import type { Vm, VmTranslation } from '../../vmm/vtx/index';
import type { EptWalk } from '../../vmm/memory/eptWalk';
import { decodeEptEntry, decodeEptp, isLeaf, EPT_LEVEL_NAMES, EPT_LEVEL_SPAN, MEMTYPE_NAMES, type EptLevel } from '../../vmm/memory/eptFormat';
import type { FormatOptions, VarNode } from './node';
import { fieldNodes } from './bits';
import { memRef, fmtAddr, fmtNum, group, hex, leaf } from './format';
import { guestEntryFields } from './x86bits';
import { objectNodes } from './vmcs';

interface TableSpec {
  count: number;
  /** The node for entry i, or null when it is empty (not present). */
  entry: (i: number) => VarNode | null;
  emptyName: (i: number) => string;
}

/** A paged table node. */
function tableNode(name: string, value: string, spec: TableSpec, extra: Partial<VarNode> = {}): VarNode {
  const at = (i: number): VarNode => spec.entry(i) ?? leaf(spec.emptyName(i), 'not present');
  return {
    name,
    value,
    indexedCount: spec.count,
    childrenRange: (start: number, count: number): VarNode[] => {
      const out: VarNode[] = [];
      const end = Math.min(spec.count, Math.max(0, start) + Math.max(0, count));
      for (let i = Math.max(0, start); i < end; i++) out.push(at(i));
      return out;
    },
    children: (): VarNode[] => {
      const out: VarNode[] = [];
      for (let i = 0; i < spec.count; i++) {
        const n = spec.entry(i);
        if (n !== null) out.push(n);
      }
      return out.length > 0 ? out : [leaf('(no present entries)', '')];
    },
    hint: { kind: 'virtual', attributes: ['readOnly'] },
    ...extra,
  };
}

const idx = (i: number, digits: number): string => i.toString(16).toUpperCase().padStart(digits, '0');
const range = (lo: number, size: number): string => `${hex(lo)}-${hex(lo + size - 1)}`;

/** GPA → host address of guest RAM (slots; identity without second-level paging). */
export function gpaToHpa(vm: Vm, gpa: number): number | null {
  if (vm.memory.mode === 'none') return gpa >>> 0;
  const r = vm.memory.slots.resolve(gpa >>> 0);
  return r.kind === 'ram' ? r.hpa : null;
}

function flagWords(v: number, level: 2 | 1, large: boolean): string {
  const names = [(v & 1) ? 'P' : '', (v & 2) ? 'RW' : 'RO', (v & 4) ? 'U' : 'S', (v & 0x20) ? 'A' : '', (level === 1 || large) && (v & 0x40) ? 'D' : '', large ? 'PS' : '', (level === 1 || large) && (v & 0x100) ? 'G' : ''];
  return names.filter((n) => n !== '').join(' ');
}

// ---------------------------------------------------------------- guest tables

function guestTables(vm: Vm, vcpuIndex: number, fmt: FormatOptions): VarNode {
  const vcpu = vm.vcpus[vcpuIndex];
  const regs = vm.memory.guestRegs(vcpu);
  const paging = (regs.cr0 & 1) !== 0 && (regs.cr0 & 0x80000000) !== 0;
  if (!paging) return leaf('Guest page tables', `paging off (guest CR0 ${fmtNum(regs.cr0, 32, fmt)}): GVA = GPA`);
  const pse = (regs.cr4 & 0x10) !== 0;
  const pd = (regs.cr3 & 0xfffff000) >>> 0;
  const mem = vm.machine.memory;
  const readEntry = (gpa: number): number | null => {
    const hpa = gpaToHpa(vm, gpa);
    return hpa === null ? null : mem.read32(hpa) >>> 0;
  };
  const pdeNode = (i: number): VarNode | null => {
    const at = pd + i * 4;
    const v = readEntry(at);
    if (v === null) return leaf(`PDE ${idx(i, 3)}`, `page directory not in guest RAM (GPA ${hex(at)})`);
    if ((v & 1) === 0) return null;
    const large = pse && (v & 0x80) !== 0;
    const base = i * 0x400000;
    const node: VarNode = {
      name: `PDE ${idx(i, 3)}`,
      value: `${fmtNum(v, 32, fmt)} ${large ? `4 MiB page → GPA ${fmtAddr(v & 0xffc00000, fmt)}` : `table → GPA ${fmtAddr(v & 0xfffff000, fmt)}`} (${flagWords(v, 2, large)})`,
      type: `guest PDE at GPA ${hex(at)}, maps GVA ${range(base, 0x400000)}`,
      memoryReference: memRef('gpa', at),
      hint: { kind: 'property', attributes: ['readOnly'] },
      children: () => {
        const flags = fieldNodes(v, guestEntryFields(2, large), fmt);
        if (large) return flags;
        const pt = (v & 0xfffff000) >>> 0;
        return [...flags, tableNode('page table', `GPA ${fmtAddr(pt, fmt)}, 1024 PTEs`, {
          count: 1024,
          emptyName: (j) => `PTE ${idx(j, 3)}`,
          entry: (j) => pteNode(pt, base, j),
        }, { memoryReference: memRef('gpa', pt) })];
      },
    };
    return node;
  };
  const pteNode = (pt: number, base: number, j: number): VarNode | null => {
    const at = pt + j * 4;
    const v = readEntry(at);
    if (v === null) return leaf(`PTE ${idx(j, 3)}`, `page table not in guest RAM (GPA ${hex(at)})`);
    if ((v & 1) === 0) return null;
    const gva = (base + j * 0x1000) >>> 0;
    return {
      name: `PTE ${idx(j, 3)}`,
      value: `${fmtNum(v, 32, fmt)} GVA ${fmtAddr(gva, fmt)} → GPA ${fmtAddr(v & 0xfffff000, fmt)} (${flagWords(v, 1, false)})`,
      type: `guest PTE at GPA ${hex(at)}`,
      memoryReference: memRef('gva', gva),
      hint: { kind: 'property', attributes: ['readOnly'] },
      children: () => fieldNodes(v, guestEntryFields(1, false), fmt),
    };
  };
  return tableNode('Guest page tables', `CR3 ${fmtNum(regs.cr3, 32, fmt)}: page directory at GPA ${fmtAddr(pd, fmt)}${pse ? ', CR4.PSE (4 MiB pages)' : ''}`, {
    count: 1024,
    emptyName: (i) => `PDE ${idx(i, 3)}`,
    entry: pdeNode,
  }, { memoryReference: memRef('gpa', pd) });
}

// ---------------------------------------------------------------- EPT

function eptEntryText(lo: number, level: EptLevel, gpa: number, fmt: FormatOptions): string {
  const f = decodeEptEntry(lo, level);
  const rwx = `${f.read ? 'R' : '-'}${f.write ? 'W' : '-'}${f.execute ? 'X' : '-'}`;
  if (!f.leaf) return `${rwx} → ${level === 4 ? 'PDPT' : level === 3 ? 'PD' : 'PT'} at HPA ${fmtAddr(f.address, fmt)}`;
  const size = EPT_LEVEL_SPAN[level] === 0x1000 ? '4 KiB' : EPT_LEVEL_SPAN[level] === 0x200000 ? '2 MiB' : '1 GiB';
  return `${rwx} ${size} page GPA ${fmtAddr(gpa, fmt)} → HPA ${fmtAddr(f.address, fmt)} ${MEMTYPE_NAMES[f.memoryType ?? 0] ?? `type ${f.memoryType}`}${f.accessed ? ' A' : ''}${f.dirty ? ' D' : ''}`;
}

function eptFlagNodes(lo: number, hi: number, level: EptLevel, fmt: FormatOptions): VarNode[] {
  const f = decodeEptEntry(lo, level);
  const out = objectNodes({ read: f.read, write: f.write, execute: f.execute }, fmt);
  if (f.leaf) {
    out.push(leaf('memory type', `${f.memoryType} (${MEMTYPE_NAMES[f.memoryType ?? 0] ?? 'reserved'})`));
    out.push(leaf('ignore PAT', f.ignorePat ? '1' : '0'));
    out.push(leaf('large page', f.largePage ? '1' : '0'));
    out.push(leaf('dirty', f.dirty ? '1' : '0'));
  }
  out.push(leaf('accessed', f.accessed ? '1' : '0'));
  out.push(leaf(f.leaf ? 'page frame' : 'next table', fmtAddr(f.address, fmt)));
  if (hi !== 0) out.push(leaf('bits 63:32', fmtNum(hi, 32, fmt)));
  return out;
}

function eptTable(vm: Vm, table: number, level: EptLevel, base: number, fmt: FormatOptions): TableSpec {
  const mem = vm.machine.memory;
  return {
    count: 512,
    emptyName: (i) => `${EPT_LEVEL_NAMES[level]} ${idx(i, 3)}`,
    entry: (i) => {
      const at = table + i * 8;
      const lo = mem.read32(at) >>> 0;
      const hi = mem.read32(at + 4) >>> 0;
      if ((lo & 7) === 0) return null;
      const gpa = base + i * EPT_LEVEL_SPAN[level];
      const span = EPT_LEVEL_SPAN[level];
      // This CPU's guest-physical space ends at 4 GiB.
      if (gpa >= 2 ** 32) return leaf(`${EPT_LEVEL_NAMES[level]} ${idx(i, 3)}`, `maps GPA ${gpa.toString(16)} beyond 4 GiB`);
      const leafEntry = isLeaf(lo, level);
      const f = decodeEptEntry(lo, level);
      return {
        name: `${EPT_LEVEL_NAMES[level]} ${idx(i, 3)}`,
        value: `${fmtNum((BigInt(hi) << 32n) | BigInt(lo), 64, fmt)} ${eptEntryText(lo, level, gpa, fmt)}`,
        type: `EPT ${EPT_LEVEL_NAMES[level]} at HPA ${hex(at)}, GPA ${hex(gpa)}-${(gpa + span - 1).toString(16).toUpperCase()}`,
        memoryReference: memRef('hpa', at),
        hint: { kind: 'property', attributes: ['readOnly'] },
        children: () => {
          const flags = eptFlagNodes(lo, hi, level, fmt);
          if (leafEntry || level === 1) return flags;
          const next = (level - 1) as EptLevel;
          return [...flags, tableNode(`${EPT_LEVEL_NAMES[next]} table`, `HPA ${fmtAddr(f.address, fmt)}, 512 entries`, eptTable(vm, f.address, next, gpa, fmt), { memoryReference: memRef('hpa', f.address) })];
        },
      };
    },
  };
}

function eptNode(vm: Vm, vcpuIndex: number, fmt: FormatOptions): VarNode | null {
  const ept = vm.memory.ept;
  if (ept === null) return null;
  const eptp = vm.vcpus[vcpuIndex].vmcs.getBig('EPT_POINTER');
  const d = decodeEptp(eptp);
  return tableNode('EPT', `EPTP ${fmtNum(eptp, 64, fmt)}: PML4 at HPA ${fmtAddr(d.pml4, fmt)}, ${MEMTYPE_NAMES[d.memoryType] ?? d.memoryType}, ${d.walkLength}-level${d.accessedDirty ? ', A/D on' : ''}`,
    eptTable(vm, d.pml4, 4, 0, fmt), { memoryReference: memRef('hpa', d.pml4) });
}

// ---------------------------------------------------------------- shadow tables

function shadowNode(vm: Vm, vcpuIndex: number, fmt: FormatOptions): VarNode | null {
  const shadow = vm.memory.shadow;
  if (shadow === null) return null;
  const vcpu = vm.vcpus[vcpuIndex];
  const root = shadow.currentRoot(vcpu);
  const mem = vm.machine.memory;
  const guestPaging = (vm.memory.guestRegs(vcpu).cr0 & 0x80000000) !== 0;
  const pte = (pt: number, base: number) => (j: number): VarNode | null => {
    const at = pt + j * 4;
    const v = mem.read32(at) >>> 0;
    if ((v & 1) === 0) return null;
    const gva = (base + j * 0x1000) >>> 0;
    return {
      name: `PTE ${idx(j, 3)}`,
      value: `${fmtNum(v, 32, fmt)} GVA ${fmtAddr(gva, fmt)} → HPA ${fmtAddr(v & 0xfffff000, fmt)} (${flagWords(v, 1, false)})`,
      type: `shadow PTE at HPA ${hex(at)}`,
      memoryReference: memRef('hpa', at),
      hint: { kind: 'property', attributes: ['readOnly'] },
      children: () => fieldNodes(v, guestEntryFields(1, false), fmt),
    };
  };
  return tableNode('Shadow page tables', `root HPA ${fmtAddr(root, fmt)} (${guestPaging ? 'paged: shadows the guest\'s tables' : 'physical: guest paging off, GVA = GPA'}), ${shadow.tables.tableCount(root)} page tables`, {
    count: 1024,
    emptyName: (i) => `PDE ${idx(i, 3)}`,
    entry: (i) => {
      const at = root + i * 4;
      const v = mem.read32(at) >>> 0;
      if ((v & 1) === 0) return null;
      const pt = (v & 0xfffff000) >>> 0;
      const base = i * 0x400000;
      return {
        name: `PDE ${idx(i, 3)}`,
        value: `${fmtNum(v, 32, fmt)} table → HPA ${fmtAddr(pt, fmt)} (${flagWords(v, 2, false)})`,
        type: `shadow PDE at HPA ${hex(at)}, GVA ${range(base, 0x400000)}`,
        memoryReference: memRef('hpa', at),
        hint: { kind: 'property', attributes: ['readOnly'] },
        children: () => [...fieldNodes(v, guestEntryFields(2, false), fmt), tableNode('page table', `HPA ${fmtAddr(pt, fmt)}, 1024 PTEs`, { count: 1024, emptyName: (j) => `PTE ${idx(j, 3)}`, entry: pte(pt, base) })],
      };
    },
  }, { memoryReference: memRef('hpa', root) });
}

function slotsNode(vm: Vm, fmt: FormatOptions): VarNode {
  const slots = vm.memory.slots.list();
  return group('Memory slots', `${slots.length} slots, paging mode ${vm.memory.mode}`, () => slots.map((s) => leaf(s.name,
    s.kind === 'ram' ? `${s.readOnly ? 'ROM' : 'RAM'} GPA ${fmtAddr(s.gpa, fmt)}-${fmtAddr(s.gpa + s.size - 1, fmt)} → HPA ${fmtAddr(s.hpa, fmt)}` : `MMIO GPA ${fmtAddr(s.gpa, fmt)}-${fmtAddr(s.gpa + s.size - 1, fmt)}`,
    { type: `${s.kind} slot, ${s.size} bytes`, memoryReference: memRef('gpa', s.gpa) })));
}

export function pageTableNodes(vm: Vm, vcpuIndex: number, fmt: FormatOptions): VarNode[] {
  if (vm.vcpus[vcpuIndex] === undefined) throw new RangeError(`no vCPU ${vcpuIndex}`);
  const out: VarNode[] = [guestTables(vm, vcpuIndex, fmt)];
  const ept = eptNode(vm, vcpuIndex, fmt);
  if (ept !== null) out.push(ept);
  const shadow = shadowNode(vm, vcpuIndex, fmt);
  if (shadow !== null) out.push(shadow);
  out.push(slotsNode(vm, fmt));
  return out;
}

// ---------------------------------------------------------------- walks

export function eptWalkNode(name: string, w: EptWalk, fmt: FormatOptions): VarNode {
  const outcome = w.outcome === 'ok'
    ? `GPA ${fmtAddr(w.gpa, fmt)} → HPA ${fmtAddr(w.hpa, fmt)} (${w.pageSize >= 0x40000000 ? '1 GiB' : w.pageSize >= 0x200000 ? '2 MiB' : '4 KiB'} page, ${MEMTYPE_NAMES[w.memoryType] ?? w.memoryType})`
    : w.outcome === 'violation' ? `GPA ${fmtAddr(w.gpa, fmt)}: EPT violation (exit 48, qualification ${hex(w.qualification)}${w.notPresent ? ', not present' : ''})`
      : `GPA ${fmtAddr(w.gpa, fmt)}: EPT misconfiguration (exit 49): ${w.reason}`;
  return group(name, outcome, () => w.steps.map((s) => {
    const lo = Number(s.value & 0xffffffffn) >>> 0;
    const hi = Number(s.value >> 32n) >>> 0;
    return {
      name: `${s.name} at HPA ${hex(s.entryHpa)}`,
      value: `${fmtNum(s.value, 64, fmt)} ${s.flags.present ? eptEntryText(lo, s.level, w.gpa - (w.gpa % EPT_LEVEL_SPAN[s.level]), fmt) : 'not present'}`,
      memoryReference: memRef('hpa', s.entryHpa),
      hint: { kind: 'property', attributes: ['readOnly'] },
      children: () => eptFlagNodes(lo, hi, s.level, fmt),
    };
  }));
}

/** The one-line answer of `translate`: GVA → GPA → HPA or where it stops. */
export function translationText(t: VmTranslation): string {
  const parts = [`GVA ${hex(t.gva)}`];
  if (t.gpa !== null) parts.push(`GPA ${hex(t.gpa)}`);
  if (t.shadow !== undefined) {
    if (t.shadow.hpa !== null) parts.push(`HPA ${hex(t.shadow.hpa)} (shadow, ${t.shadow.state})`);
    else if (t.hpa !== null) parts.push(`HPA ${hex(t.hpa)} (guest tables; shadow ${t.shadow.state})`);
  } else if (t.hpa !== null) parts.push(`HPA ${hex(t.hpa)}`);
  let text = parts.join(' → ');
  if (t.pageSize !== null) text += ` (${t.pageSize >= 0x400000 ? '4 MiB' : '4 KiB'} page)`;
  if (!t.paging) text += ' (guest paging off)';
  if (t.fault !== null) {
    const f = t.fault;
    const why = f.kind === 'page-fault' ? `#PF, error code ${hex(f.errorCode)}: ${f.message}`
      : f.kind === 'ept-violation' ? `EPT violation at GPA ${hex(f.gpa)} (exit 48, qualification ${hex(f.qualification)})`
        : f.kind === 'ept-misconfig' ? `EPT misconfiguration at GPA ${hex(f.gpa)}: ${f.reason}`
          : f.kind === 'mmio' ? `GPA ${hex(f.gpa)} is MMIO slot "${f.slot.name}" offset ${hex(f.offset)}` : `GPA ${hex(f.gpa)} is outside every slot`;
    text += `: ${why}`;
  }
  return `${text} [${t.mode} mode, vCPU ${t.vcpu}]`;
}

/** The whole walk as a tree: guest entries (each with its EPT walk), the final GPA's EPT walk, shadow entries, fault. */
export function translationNode(t: VmTranslation, fmt: FormatOptions): VarNode {
  return group(`translate ${hex(t.gva)}`, translationText(t), () => {
    const out: VarNode[] = [
      leaf('guest CR0/CR3/CR4', `${fmtNum(t.regs.cr0, 32, fmt)} / ${fmtNum(t.regs.cr3, 32, fmt)} / ${fmtNum(t.regs.cr4, 32, fmt)}`),
      leaf('access', `${t.access}${t.user ? ', user' : ', supervisor'}`),
    ];
    for (const s of t.guest) {
      out.push({
        name: `guest ${s.name} at GPA ${hex(s.gpa)}`,
        value: s.value === null ? 'not reachable' : `${fmtNum(s.value, 32, fmt)}${s.hpa !== null ? ` (HPA ${fmtAddr(s.hpa, fmt)})` : ''}`,
        memoryReference: memRef('gpa', s.gpa),
        hint: { kind: 'property', attributes: ['readOnly'] },
        children: () => [
          ...(s.value === null ? [] : fieldNodes(s.value, guestEntryFields(s.level, s.flags?.pageSize === true && s.level === 2 && t.pageSize === 0x400000), fmt)),
          ...(s.ept === null ? [] : [eptWalkNode('EPT walk of the entry', s.ept, fmt)]),
        ],
      });
    }
    out.push(leaf('GPA', t.gpa === null ? '—' : fmtAddr(t.gpa, fmt), t.gpa === null ? {} : { memoryReference: memRef('gpa', t.gpa) }));
    if (t.ept !== null) out.push(eptWalkNode('EPT walk', t.ept, fmt));
    if (t.shadow !== undefined) {
      const sh = t.shadow;
      out.push(group('shadow', `${sh.state}${sh.note ? `: ${sh.note}` : ''}`, () => [
        leaf('root', `${fmtAddr(sh.root, fmt)} (${sh.rootKind})`),
        ...sh.entries.map((e) => ({ ...leaf(`shadow ${e.name} at HPA ${hex(e.hpa)}`, fmtNum(e.value, 32, fmt)), children: () => fieldNodes(e.value, guestEntryFields(e.level, false), fmt) })),
        leaf('HPA used by the processor', sh.hpa === null ? 'none (the next access faults and fills)' : fmtAddr(sh.hpa, fmt)),
      ]));
    }
    out.push(leaf('HPA', t.hpa === null ? '—' : fmtAddr(t.hpa, fmt), t.hpa === null ? {} : { memoryReference: memRef('hpa', t.hpa) }));
    if (t.fault !== null) out.push(group('fault', t.fault.kind, () => objectNodes(t.fault ?? {}, fmt, ['slot'])));
    return out;
  });
}
