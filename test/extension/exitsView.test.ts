// The Hyperstep view and the status bar, driven by a sequence of the
// session's custom events through the stand-in vscode API: VM exits under
// VT-x, traps, holes and the VMM's statistics under a software technique.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeVscode, type TreeItem, type Range } from './fakeVscode';
import { registerExitsView, ExitsTreeProvider, EXITS_VIEW, REVEAL_EXIT_COMMAND, CLEAR_EXITS_COMMAND } from '../../src/extension/exitsView';
import { ExitsModel, RECENT_EXITS, type TreeRow } from '../../src/extension/exitsModel';
import {
  EXIT_EVENT, SOFT_STATS_EVENT, STATE_EVENT, STATS_EVENT, TRAP_EVENT,
  type ExitEventBody, type HoleEventBody, type SoftStatsEventBody, type StatsEventBody, type TrapBatchEventBody, type TrapEventBody,
} from '../../src/debug/protocol';

function exit(sequence: number, over: Partial<ExitEventBody> = {}): ExitEventBody {
  return {
    sequence, vcpu: 0, reason: 30, name: 'IO_INSTRUCTION', rip: 0x7c05, qualification: 0x3f80008,
    summary: 'OUT 0x3F8, 1 byte (DX)', instructionLength: 1, instructionInfo: 0, interruptionInfo: 0,
    interruptionErrorCode: 0, idtVectoringInfo: 0, idtVectoringErrorCode: 0, why: 'I/O bitmap A bit 0x3F8 is set',
    ...over,
  };
}

const STATS: StatsEventBody = {
  total: 3, totalCycles: 4200, model: 'default',
  reasons: [
    { reason: 30, name: 'IO_INSTRUCTION', count: 2, share: 2 / 3, cycles: 3000, timeShare: 3000 / 4200, minCycles: 1500, maxCycles: 1500, avgCycles: 1500 },
    { reason: 10, name: 'CPUID', count: 1, share: 1 / 3, cycles: 1200, timeShare: 1200 / 4200, minCycles: 1200, maxCycles: 1200, avgCycles: 1200 },
  ],
  ioPorts: [{ key: '0x3F8 out', count: 2, share: 1, cycles: 3000, avgCycles: 1500 }],
  msrs: [], cpuidLeaves: [{ key: '0x0', count: 1, share: 1, cycles: 1200, avgCycles: 1200 }], exceptions: [],
};

function setup() {
  const fake = fakeVscode({ '/w/boot.asm': 'org 0x7C00\nmov dx, 0x3F8\nout dx, al\nhlt\n' });
  const subscriptions: { dispose(): unknown }[] = [];
  const view = registerExitsView(fake.api, subscriptions);
  const session = { type: 'hyperstep', name: 'Debug boot.asm' };
  const send = (event: string, body: unknown): void => fake.events.custom.fire({ session, event, body });
  const tree = fake.state.treeProviders.get(EXITS_VIEW) as unknown as {
    getChildren(row?: TreeRow): TreeRow[];
    getTreeItem(row: TreeRow): TreeItem;
  };
  return { ...fake, view, session, send, tree };
}

/** The tree as text: one line per item, indented, "label — description". */
function render(tree: ReturnType<typeof setup>['tree'], rows = tree.getChildren(), depth = 0): string[] {
  return rows.flatMap((row) => {
    const item = tree.getTreeItem(row);
    const line = `${'  '.repeat(depth)}${item.label}${item.description ? ` — ${item.description}` : ''}`;
    return [line, ...render(tree, tree.getChildren(row), depth + 1)];
  });
}

test('the view lists exits newest first with decoded qualifications, and the statistics', () => {
  const { session, send, tree, events } = setup();
  events.startSession.fire(session);
  send(EXIT_EVENT, exit(1, { reason: 10, name: 'CPUID', qualification: 0, summary: undefined, why: 'CPUID always exits', rip: 0x7c00 }));
  send(EXIT_EVENT, { exits: [exit(2), exit(3, { vcpu: 1, rip: 0x7c09, source: { path: '/w/boot.asm', line: 3 } })] });
  send(STATS_EVENT, STATS);
  assert.deepEqual(render(tree), [
    'VM exits — 3',
    '  #3 IO_INSTRUCTION — vCPU 1 · RIP 0x00007C09 · OUT 0x3F8, 1 byte (DX)',
    '    reason — 30 IO_INSTRUCTION',
    '    qualification — 0x3F80008 — OUT 0x3F8, 1 byte (DX)',
    '    why — I/O bitmap A bit 0x3F8 is set',
    '    instruction length — 1',
    '    source — /w/boot.asm:3',
    '  #2 IO_INSTRUCTION — vCPU 0 · RIP 0x00007C05 · OUT 0x3F8, 1 byte (DX)',
    '    reason — 30 IO_INSTRUCTION',
    '    qualification — 0x3F80008 — OUT 0x3F8, 1 byte (DX)',
    '    why — I/O bitmap A bit 0x3F8 is set',
    '    instruction length — 1',
    '  #1 CPUID — vCPU 0 · RIP 0x00007C00',
    '    reason — 10 CPUID',
    '    qualification — 0x0',
    '    why — CPUID always exits',
    '    instruction length — 1',
    'Exit statistics — 3 exits, 4200 cycles',
    '  IO_INSTRUCTION — 2 (66.7%) · time 71.4% · avg 1500 cycles',
    '  CPUID — 1 (33.3%) · time 28.6% · avg 1200 cycles',
    '  I/O ports',
    '    0x3F8 out — 2 (100.0%) · avg 1500 cycles',
    '  CPUID leaves',
    '    0x0 — 1 (100.0%) · avg 1200 cycles',
  ]);
  const [exits] = tree.getChildren();
  assert.ok(exits);
  const newest = tree.getTreeItem(tree.getChildren(exits)[0] as TreeRow);
  assert.equal(newest.command?.command, REVEAL_EXIT_COMMAND);
  assert.equal(newest.collapsibleState, 1);
  assert.equal(tree.getTreeItem(exits).collapsibleState, 2);
});

test('selecting an exit with a source line opens it there; without one, the disassembly', async () => {
  const { state, session, send, tree } = setup();
  send(EXIT_EVENT, exit(1, { source: { path: '/w/boot.asm', line: 3, column: 1 } }));
  send(EXIT_EVENT, exit(2));
  const rows = tree.getChildren(tree.getChildren()[0]);
  const run = async (row: TreeRow): Promise<void> => {
    const item = tree.getTreeItem(row);
    const command = state.commands.get(item.command?.command ?? '');
    assert.ok(command);
    await command(...(item.command?.arguments ?? []));
  };
  await run(rows[1] as TreeRow); // #1, with a source line
  assert.equal(state.shown.length, 1);
  assert.equal(state.shown[0]?.document.fileName, '/w/boot.asm');
  assert.equal((state.shown[0]?.selection as Range).start.line, 2);
  // No source: the disassembly around RIP from the stopped session, the exiting instruction selected.
  const requests: unknown[] = [];
  state.activeDebugSession = {
    ...session,
    customRequest(command: string, args: unknown) {
      requests.push({ command, args });
      return Promise.resolve({
        instructions: [
          { address: '0x00007C00', instruction: 'mov dx, 0x3f8', instructionBytes: 'BA F8 03', symbol: 'start' },
          { address: '0x00007C03', instruction: 'mov al, 0x41', instructionBytes: 'B0 41' },
          { address: '0x00007C05', instruction: 'out dx, al', instructionBytes: 'EE' },
          { address: '0x00007C06', instruction: 'hlt', instructionBytes: 'F4' },
        ],
      });
    },
  };
  await run(rows[0] as TreeRow); // #2
  assert.deepEqual(requests, [{ command: 'disassemble', args: { memoryReference: 'gva:0x7c05', instructionOffset: -8, instructionCount: 17, resolveSymbols: true } }]);
  const shown = state.shown[1];
  assert.ok(shown);
  assert.equal(shown.document.uri.scheme, 'hyperstep-exit');
  const text = shown.document.getText().split('\n');
  assert.equal(text[0], '; VM exit #2 IO_INSTRUCTION on vCPU 0 at RIP 0x7C05');
  assert.equal(text[(shown.selection as Range).start.line], `    ${'out dx, al'.padEnd(32)}; 0x00007C05  EE  <- exit`);
  assert.ok(text.includes('start:'));
  // The session answers only while stopped; otherwise the Disassembly view.
  state.activeDebugSession = { ...session, customRequest: () => Promise.reject(new Error('not stopped')) };
  await run(rows[0] as TreeRow);
  assert.deepEqual(state.executed.filter((e) => e.command !== 'setContext').map((e) => e.command), ['debug.action.openDisassemblyView']);
  state.activeDebugSession = undefined;
  await run(rows[0] as TreeRow);
  assert.match(state.infos[0] ?? '', /#2 at RIP 0x7C05 has no source line/);
});

test('status bar: mode, CPL and exit count while a hyperstep session runs', () => {
  const { state, session, send, events } = setup();
  const item = state.statusItems[0];
  assert.ok(item);
  events.startSession.fire(session);
  assert.equal(item.visible, false); // nothing known yet
  send(STATE_EVENT, { vcpu: 0, mode: 'real', cpl: 0, nonRoot: true, exitCount: 0 });
  assert.equal(item.visible, true);
  assert.equal(item.text, '$(chip) vCPU 0 real · CPL 0 · 0 exits');
  send(EXIT_EVENT, exit(1));
  assert.equal(item.text, '$(chip) vCPU 0 real · CPL 0 · 1 exit');
  send(STATE_EVENT, { vcpu: 0, mode: 'protected', cpl: 3, nonRoot: true, exitCount: 7, rip: 0x1000 });
  assert.equal(item.text, '$(chip) vCPU 0 protected · CPL 3 · 7 exits');
  assert.match(item.tooltip ?? '', /VMX non-root/);
  assert.match(item.tooltip ?? '', /RIP 0x00001000/);
  // Events of other debug types are not ours.
  events.custom.fire({ session: { type: 'node', name: 'x' }, event: STATE_EVENT, body: { vcpu: 1, mode: 'long', cpl: 0, nonRoot: false, exitCount: 99 } });
  assert.equal(item.text, '$(chip) vCPU 0 protected · CPL 3 · 7 exits');
  events.endSession.fire(session);
  assert.equal(item.visible, false);
});

test('status bar under a software technique: the technique and its traps in place of VM exits', () => {
  const { state, session, send, events } = setup();
  const item = state.statusItems[0];
  assert.ok(item);
  events.startSession.fire(session);
  send(STATE_EVENT, { vcpu: 0, mode: 'paged', cpl: 0, nonRoot: false, exitCount: 0, technique: 'trap-and-emulate', traps: 125, rip: 0x1010b });
  assert.equal(item.text, '$(chip) vCPU 0 paged · CPL 0 · trap-and-emulate · 125 traps');
  assert.match(item.tooltip ?? '', /CPL 0, trap-and-emulate \(no VMX; the CPL the guest believes in\)/);
  assert.match(item.tooltip ?? '', /125 traps into the VMM/);
  assert.doesNotMatch(item.tooltip ?? '', /VM exits|VMX root/);
});

test('a new session starts an empty view; Clear empties it; malformed events are ignored', () => {
  const { state, session, send, tree, events, view } = setup();
  send(EXIT_EVENT, exit(1));
  send(EXIT_EVENT, { reason: 'x' });
  send(EXIT_EVENT, { exits: [{}] });
  send(STATS_EVENT, { total: 1 });
  send('hyperstep/unknown', {});
  assert.equal(view.model.recent.length, 1);
  assert.equal(render(tree)[render(tree).length - 1], 'Exit statistics — at the next stop');
  events.startSession.fire(session);
  assert.equal(view.model.recent.length, 0);
  send(EXIT_EVENT, exit(1));
  const clear = state.commands.get(CLEAR_EXITS_COMMAND);
  assert.ok(clear);
  clear();
  assert.deepEqual(render(tree), ['VM exits — 0', 'Exit statistics — at the next stop']);
  // The view's `when` clause keeps it visible while it has something to show.
  const context = state.executed.filter((e) => e.command === 'setContext').map((e) => e.args.join('='));
  assert.deepEqual(context, ['hyperstep.hasExits=true', 'hyperstep.hasExits=false', 'hyperstep.hasExits=true', 'hyperstep.hasExits=false']);
});

test('only the most recent exits are kept; the count goes on', () => {
  const model = new ExitsModel();
  for (let i = 1; i <= RECENT_EXITS + 50; i++) model.accept(EXIT_EVENT, exit(i));
  assert.equal(model.recent.length, RECENT_EXITS);
  assert.equal(model.recent[0]?.sequence, 51);
  assert.equal(model.exitCount, RECENT_EXITS + 50);
  assert.equal(model.rows()[0]?.description, `last ${RECENT_EXITS} of ${RECENT_EXITS + 50}`);
});


test('the tree is told to redraw after events, once for a burst', async () => {
  const fake = fakeVscode();
  const model = new ExitsModel();
  const tree = new ExitsTreeProvider(fake.api, model, 1);
  let fired = 0;
  const redrawn = new Promise<void>((resolve) => tree.onDidChangeTreeData(() => {
    fired++;
    resolve();
  }));
  for (let i = 1; i <= 50; i++) model.accept(EXIT_EVENT, exit(i));
  assert.equal(fired, 0); // not synchronously per event
  await redrawn;
  assert.equal(fired, 1);
  tree.dispose();
});

test('an exit event with only the essential fields still makes a row', () => {
  const model = new ExitsModel();
  assert.equal(model.accept(EXIT_EVENT, { sequence: 4, vcpu: 0, reason: 12, name: 'HLT', rip: 0x7c10 }), true);
  const row = model.rows()[0]?.children?.[0];
  assert.equal(row?.label, '#4 HLT');
  assert.equal(row?.description, 'vCPU 0 · RIP 0x00007C10');
  assert.deepEqual(row?.children?.map((c) => `${c.label}: ${c.description}`), ['reason: 12 HLT']);
});

const SOFT_STATS: SoftStatsEventBody = {
  technique: 'trap-and-emulate', model: 'soft-default', traps: 4, trapCycles: 5000,
  byKind: [
    { key: '#PF: shadow fill', count: 2, cycles: 2800 },
    { key: '#GP: cli', count: 1, cycles: 1100 },
    { key: 'interrupt: vector 0x20', count: 1, cycles: 1100 },
  ],
  holes: 1,
  translation: { blocks: 0, instructions: 0, callouts: 0, chained: 0, lookups: 0, invalidations: 0, cycles: 0 },
  hypercalls: [], rootSwitches: { count: 0, cycles: 0 }, vmmCycles: 5000,
};

function trap(seq: number, key: string, rip: number, over: Partial<TrapEventBody> = {}): TrapEventBody {
  return { vcpu: 0, seq, key, rip, cycles: key.startsWith('#PF') ? 1400 : 1100, ...over };
}

const POPF_HOLE: HoleEventBody = {
  vcpu: 0, sequence: 1, rip: 0x1010a, length: 1, instruction: 'popf',
  saw: 'virtual IF=0 IOPL=0 kept', expected: 'IF=1 IOPL=0 from the popped 0x00000202', why: 'POPF in ring 1 does not trap',
};

test('under a software technique the view lists the traps and holes, the VMM statistics, and says which technique', async () => {
  const { state, session, send, tree, events } = setup();
  const view = state.treeViews.get(EXITS_VIEW);
  assert.ok(view, 'the view is a tree view');
  events.startSession.fire(session);
  assert.equal(view.description, undefined);
  send(TRAP_EVENT, {
    technique: 'trap-and-emulate',
    traps: [trap(1, '#PF: shadow fill', 0x10000, { source: { path: '/w/boot.asm', line: 2, column: 1 } }), trap(2, '#PF: shadow fill', 0x10011)],
    holes: [],
  } satisfies TrapBatchEventBody);
  send(TRAP_EVENT, {
    technique: 'trap-and-emulate',
    traps: [trap(3, '#GP: cli', 0x1000b, { source: { path: '/w/boot.asm', line: 3 } }), trap(4, 'interrupt: vector 0x20', 0x10020)],
    holes: [POPF_HOLE],
  } satisfies TrapBatchEventBody);
  send(SOFT_STATS_EVENT, SOFT_STATS);
  send(STATE_EVENT, { vcpu: 0, mode: 'paged', cpl: 0, nonRoot: false, exitCount: 0, technique: 'trap-and-emulate', traps: 4 });
  assert.equal(view.description, 'trap-and-emulate · traps into the VMM');
  assert.deepEqual(render(tree), [
    'Traps into the VMM — 4',
    '  #4 interrupt: vector 0x20 — vCPU 0 · RIP 0x00010020 · 1100 cycles',
    '    kind — interrupt',
    '    detail — vector 0x20',
    '    modelled cycles — 1100',
    '  #3 #GP: cli — vCPU 0 · RIP 0x0001000B · 1100 cycles',
    '    kind — #GP',
    '    detail — cli',
    '    modelled cycles — 1100',
    '    source — /w/boot.asm:3',
    '  #2 #PF: shadow fill — vCPU 0 · RIP 0x00010011 · 1400 cycles',
    '    kind — #PF',
    '    detail — shadow fill',
    '    modelled cycles — 1400',
    '  #1 #PF: shadow fill — vCPU 0 · RIP 0x00010000 · 1400 cycles',
    '    kind — #PF',
    '    detail — shadow fill',
    '    modelled cycles — 1400',
    '    source — /w/boot.asm:2',
    'Virtualization holes — 1',
    '  #1 popf — vCPU 0 · RIP 0x0001010A · saw virtual IF=0 IOPL=0 kept',
    '    the guest saw — virtual IF=0 IOPL=0 kept',
    '    it expected — IF=1 IOPL=0 from the popped 0x00000202',
    '    why — POPF in ring 1 does not trap',
    '    instruction length — 1',
    'VMM statistics — 4 traps, 5000 cycles',
    '  #PF: shadow fill — 2 (50.0%) · time 56.0% · avg 1400 cycles',
    '  #GP: cli — 1 (25.0%) · time 22.0% · avg 1100 cycles',
    '  interrupt: vector 0x20 — 1 (25.0%) · time 22.0% · avg 1100 cycles',
    '  Virtualization holes — 1',
    '  VMM modelled time — 5000 cycles (soft-default)',
  ]);
  // The roots are expanded; the rows reveal their places.
  const [traps, holes, stats] = tree.getChildren();
  assert.ok(traps && holes && stats, 'three roots');
  assert.deepEqual([traps, holes, stats].map((r) => tree.getTreeItem(r).collapsibleState), [2, 2, 2]);
  const cli = tree.getTreeItem(tree.getChildren(traps)[1] as TreeRow);
  assert.equal(cli.command?.command, REVEAL_EXIT_COMMAND);
  assert.equal(cli.command?.title, 'Show Trap Location');
  const reveal = state.commands.get(REVEAL_EXIT_COMMAND);
  assert.ok(reveal, 'the reveal command');
  await reveal(...(cli.command?.arguments ?? []));
  assert.equal(state.shown[0]?.document.fileName, '/w/boot.asm');
  assert.equal((state.shown[0]?.selection as Range).start.line, 2);
  // A hole without a source line: the disassembly around it, the hole's instruction selected.
  state.activeDebugSession = {
    ...session,
    customRequest: () => Promise.resolve({ instructions: [{ address: '0x00010109', instruction: 'cli' }, { address: '0x0001010A', instruction: 'popf' }, { address: '0x0001010B', instruction: 'ret' }] }),
  };
  const hole = tree.getTreeItem(tree.getChildren(holes)[0] as TreeRow);
  assert.equal(hole.command?.title, 'Show Hole Location');
  await reveal(...(hole.command?.arguments ?? []));
  const shown = state.shown[1];
  assert.ok(shown, 'the disassembly is shown');
  const text = shown.document.getText().split('\n');
  assert.equal(text[0], '; virtualization hole #1: popf on vCPU 0 at 0x1010A');
  assert.equal(text[(shown.selection as Range).start.line], `    ${'popf'.padEnd(32)}; 0x0001010A  <- hole`);
  state.activeDebugSession = undefined;
  await reveal(tree.getChildren(traps)[0]?.exit);
  assert.match(state.infos[0] ?? '', /^Trap #4 \(interrupt: vector 0x20\) at 0x10020 has no source line\.$/);
  // The context key keeps the view visible; a new session empties it and forgets the technique.
  assert.ok(state.executed.some((e) => e.command === 'setContext' && e.args.join('=') === 'hyperstep.hasExits=true'), 'the context key');
  events.startSession.fire(session);
  assert.equal(view.description, undefined);
  assert.deepEqual(render(tree), ['VM exits — 0', 'Exit statistics — at the next stop']);
  send(STATS_EVENT, STATS);
  assert.equal(view.description, 'VT-x · VM exits');
});

test('binary translation and paravirt statistics: the translator with its callouts, the hypercalls; only the newest traps are kept', () => {
  const model = new ExitsModel();
  assert.equal(model.accept(SOFT_STATS_EVENT, {
    ...SOFT_STATS, technique: 'binary-translation', traps: 1, trapCycles: 1400,
    byKind: [{ key: 'callout: cli', count: 3, cycles: 1020 }, { key: '#PF: shadow fill', count: 1, cycles: 1400 }, { key: 'callout: popf', count: 1, cycles: 340 }],
    holes: 0, translation: { blocks: 5, instructions: 20, callouts: 4, chained: 7, lookups: 3, invalidations: 0, cycles: 5450 },
  } satisfies SoftStatsEventBody), true);
  const text = (rows: TreeRow[], depth = 0): string[] => rows.flatMap((r) => [`${'  '.repeat(depth)}${r.label}${r.description ? ` — ${r.description}` : ''}`, ...text(r.children ?? [], depth + 1)]);
  assert.deepEqual(text(model.rows().slice(2)), [
    'VMM statistics — 1 traps, 1400 cycles',
    '  #PF: shadow fill — 1 (100.0%) · time 100.0% · avg 1400 cycles',
    '  Virtualization holes — 0',
    '  Binary translation — 5 blocks, 4 callouts, 5450 cycles',
    '    translated blocks — 5 (20 instructions)',
    '    chained transitions — 7',
    '    cache lookups — 3',
    '    invalidations — 0',
    '    callouts — 4',
    '      cli — 3 (75.0%) · time 75.0% · avg 340 cycles',
    '      popf — 1 (25.0%) · time 25.0% · avg 340 cycles',
    '  VMM modelled time — 5000 cycles (soft-default)',
  ]);
  const pv = new ExitsModel();
  pv.accept(SOFT_STATS_EVENT, {
    ...SOFT_STATS, technique: 'paravirt', holes: 0,
    hypercalls: [{ key: 'IRQ_DISABLE', count: 3, cycles: 3150 }, { key: 'CONSOLE_WRITE', count: 1, cycles: 1050 }],
  } satisfies SoftStatsEventBody);
  const pvRows = text(pv.rows());
  assert.ok(pvRows.includes('Virtualization holes — none under paravirt'), pvRows.join('\n'));
  const at = pvRows.indexOf('  Hypercalls — 4 calls, 4200 cycles');
  assert.ok(at > 0, pvRows.join('\n'));
  assert.deepEqual(pvRows.slice(at + 1, at + 3), ['    IRQ_DISABLE — 3 (75.0%) · time 75.0% · avg 1050 cycles', '    CONSOLE_WRITE — 1 (25.0%) · time 25.0% · avg 1050 cycles']);
  // Recent traps are capped like exits; malformed batches are refused.
  const many = new ExitsModel();
  for (let i = 1; i <= RECENT_EXITS + 30; i++) many.accept(TRAP_EVENT, { technique: 'paravirt', traps: [trap(i, 'hypercall: IRQ_DISABLE', 0x1000)], holes: [] });
  assert.equal(many.recentTraps.length, RECENT_EXITS);
  assert.equal(many.recentTraps[0]?.seq, 31);
  assert.equal(many.rows()[0]?.description, `last ${RECENT_EXITS} of ${RECENT_EXITS + 30}`);
  assert.equal(many.accept(TRAP_EVENT, { traps: [trap(1, '#GP: cli', 0)], holes: [] }), false);
  assert.equal(many.accept(TRAP_EVENT, { technique: 'paravirt', traps: [{ seq: 'x' }], holes: [] }), false);
  assert.equal(many.accept(SOFT_STATS_EVENT, { traps: 1 }), false);
});
