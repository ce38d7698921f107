// Shared helpers for the inspection tests: small guests run under the VMM, and node lookups.
import assert from 'node:assert/strict';
import { assemble } from '../../../src/x86/asm/index';
import { createVm, type Vm, type VmOptions, type VmStop } from '../../../src/vmm/vtx/index';
import type { VarNode } from '../../../src/debug/inspect/node';

export const HEXFMT = { hex: true };
export const DECFMT = { hex: false };

export function build(source: string, org = 0x1000, bits: 16 | 32 = 32): Uint8Array {
  const r = assemble(`bits ${bits}\norg 0x${org.toString(16)}\n${source}`, { fileName: 'guest.asm' });
  assert.ok(r.ok, r.diagnostics.map((d) => d.message).join('\n'));
  return r.bytes;
}

export function vmOf(source: string, extra: Partial<VmOptions> = {}): Vm {
  return createVm({ image: build(source), ...extra });
}

export function runTo(source: string, max = 10000, extra: Partial<VmOptions> = {}): { vm: Vm; stop: VmStop } {
  const vm = vmOf(source, extra);
  const stop = vm.run(max);
  return { vm, stop };
}

/** The child named `name` (or whose name starts with `name + ' '`); fails the test when missing. */
export function child(nodes: readonly VarNode[], name: string): VarNode {
  const n = nodes.find((x) => x.name === name || x.name.startsWith(`${name} `));
  assert.ok(n, `no node '${name}' among: ${nodes.map((x) => x.name).join(', ')}`);
  return n;
}

export function kids(n: VarNode): VarNode[] {
  assert.ok(n.children, `node '${n.name}' has no children`);
  return n.children();
}

/** Follows a path of names from a list of nodes. */
export function at(nodes: readonly VarNode[], ...path: string[]): VarNode {
  let list = nodes;
  let node: VarNode | undefined;
  for (const p of path) {
    node = child(list, p);
    list = node.children ? node.children() : [];
  }
  assert.ok(node);
  return node;
}
