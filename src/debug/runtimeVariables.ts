// The handle table behind DAP variables, generic over VarNode. A handle names
// a root (a scope's builder, or an evaluate result) and a path of child names
// below it, so children are built only when expanded, each request rebuilds
// with the format the client asks for (hex or decimal), and large arrays are
// read a page at a time through `childrenRange`. Handles last until the
// guest runs again.

import type { DebugProtocol } from '@vscode/debugprotocol';
import type { FormatOptions, VarNode } from './inspect/node';

interface PathStep {
  name: string;
  /** Index in a paged parent (childrenRange), else -1. */
  index: number;
}

interface Container {
  root: (fmt: FormatOptions) => VarNode[];
  path: PathStep[];
  children: Map<string, number>;
}

export class VariableStore {
  private readonly containers = new Map<number, Container>();
  private next = 1;

  reset(): void {
    this.containers.clear();
  }

  addScope(build: (fmt: FormatOptions) => VarNode[]): number {
    return this.add({ root: build, path: [], children: new Map() });
  }

  /** A handle for an evaluate result's node (0 when it has no children). */
  addNode(node: VarNode): number {
    if (!hasChildren(node)) return 0;
    return this.add({ root: () => [node], path: [{ name: node.name, index: -1 }], children: new Map() });
  }

  private add(c: Container): number {
    const handle = this.next++;
    this.containers.set(handle, c);
    return handle;
  }

  /** The nodes a handle lists; `start`/`count` page a large array. Undefined for an unknown handle. */
  private nodes(ref: number, fmt: FormatOptions, start?: number, count?: number): VarNode[] | undefined {
    const c = this.containers.get(ref);
    if (c === undefined) return undefined;
    let list = c.root(fmt);
    let parent: VarNode | undefined;
    for (const step of c.path) {
      const found: VarNode | undefined = step.index >= 0 && parent?.childrenRange !== undefined ? parent.childrenRange(step.index, 1)[0] : list.find((n) => n.name === step.name);
      if (found === undefined) return [];
      parent = found;
      list = [];
      if (found.childrenRange !== undefined && found.indexedCount !== undefined) {
        // Paged: the listing is requested per range below.
        continue;
      }
      list = found.children?.() ?? [];
    }
    if (parent !== undefined && parent.childrenRange !== undefined && parent.indexedCount !== undefined) {
      const s = Math.max(0, start ?? 0);
      const n = Math.max(0, Math.min(count ?? parent.indexedCount, parent.indexedCount - s));
      return n === 0 ? [] : parent.childrenRange(s, n).map((node, i) => Object.assign(node, { [PAGED_INDEX]: s + i }));
    }
    if (start !== undefined || count !== undefined) {
      const s = Math.max(0, start ?? 0);
      return list.slice(s, count !== undefined && count > 0 ? s + count : undefined);
    }
    return list;
  }

  children(ref: number, fmt: FormatOptions, start?: number, count?: number): DebugProtocol.Variable[] | undefined {
    const list = this.nodes(ref, fmt, start, count);
    if (list === undefined) return undefined;
    const c = this.containers.get(ref) as Container;
    return list.map((node) => {
      let child = 0;
      if (hasChildren(node)) {
        const index = (node as PagedNode)[PAGED_INDEX] ?? -1;
        const key = `${index}\0${node.name}`;
        child = c.children.get(key) ?? 0;
        if (child === 0 || !this.containers.has(child)) {
          child = this.add({ root: c.root, path: [...c.path, { name: node.name, index }], children: new Map() });
          c.children.set(key, child);
        }
      }
      const v: DebugProtocol.Variable = { name: node.name, value: node.value, variablesReference: child };
      if (node.type !== undefined) v.type = node.type;
      if (node.evaluateName !== undefined) v.evaluateName = node.evaluateName;
      if (node.indexedCount !== undefined && node.childrenRange !== undefined) v.indexedVariables = node.indexedCount;
      if (node.memoryReference !== undefined) v.memoryReference = node.memoryReference;
      const attributes = [...(node.hint?.attributes ?? [])];
      if (node.set === undefined && !attributes.includes('readOnly')) attributes.push('readOnly');
      if (node.hint?.kind !== undefined || attributes.length > 0) v.presentationHint = { ...(node.hint?.kind ? { kind: node.hint.kind } : {}), attributes };
      return v;
    });
  }

  /** Sets a child of a handle through its node's `set`; returns the new shown value. */
  set(ref: number, name: string, value: string): string {
    const list = this.nodes(ref, { hex: true });
    if (list === undefined) throw new Error(`No variables for reference ${ref}.`);
    const node = list.find((n) => n.name === name);
    if (node === undefined) throw new Error(`No variable '${name}' here.`);
    if (node.set === undefined) throw new Error(`'${name}' cannot be changed.`);
    return node.set(value);
  }
}

const PAGED_INDEX = Symbol('pagedIndex');
type PagedNode = VarNode & { [PAGED_INDEX]?: number };

function hasChildren(n: VarNode): boolean {
  return n.children !== undefined || (n.childrenRange !== undefined && n.indexedCount !== undefined);
}
