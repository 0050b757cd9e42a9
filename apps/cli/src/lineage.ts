import type { LineageNode, LineageView } from './api';

/** How a VM came from the one before it, in a few words. */
function howMade(node: LineageNode): string {
  const origin = node.origin;
  switch (origin.kind) {
    case 'new':
      return 'created';
    case 'import':
      return `imported from ${origin.packageName}`;
    case 'fork':
      return 'instant clone';
    case 'clone':
      return origin.linked
        ? `linked clone${node.snapshotName ? ` at snapshot "${node.snapshotName}"` : ''}`
        : `full clone (${origin.format})`;
  }
}

function line(node: LineageNode): string {
  const ended = node.state === 'present' ? '' : ` [${node.state}]`;
  return `${node.name} (${node.role}, ${howMade(node)}) ${node.vmId}${ended}`;
}

/**
 * A lineage as a tree: ancestors from what the VM was first made from down to the VM, or the VM
 * and what derives from it, each under the one it was cloned or forked from. A package's lineage
 * has a tree for each VM imported from it.
 */
export function lineageTree(view: LineageView): string[] {
  const groups: LineageNode[][] = [];
  for (const node of view.nodes)
    if (node.depth === 0 || groups.length === 0) groups.push([node]);
    else groups[groups.length - 1].push(node);
  const lines = groups.flatMap((group) => treeOf(view.direction, group));
  if (view.truncated) lines.push('… more descendants than the limit: raise --limit');
  return lines;
}

function treeOf(direction: LineageView['direction'], group: LineageNode[]): string[] {
  const nodes = direction === 'ancestors' ? [...group].reverse() : group;
  const children = new Map<string | null, LineageNode[]>();
  const root = nodes[0];
  for (const node of nodes.slice(1)) {
    const parent =
      direction === 'ancestors' ? nodes[nodes.indexOf(node) - 1].vmId : node.derivesFrom;
    children.set(parent, [...(children.get(parent) ?? []), node]);
  }
  const lines = [line(root)];
  const walk = (vmId: string, indent: string) => {
    const below = children.get(vmId) ?? [];
    below.forEach((child, index) => {
      const last = index === below.length - 1;
      lines.push(`${indent}${last ? '└─ ' : '├─ '}${line(child)}`);
      walk(child.vmId, `${indent}${last ? '   ' : '│  '}`);
    });
  };
  walk(root.vmId, '');
  return lines;
}
