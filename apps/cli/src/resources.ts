import { taskErrorLine } from './problems';
import type { DatastoreView, LiveExport, SnapshotView, TaskView, VmView } from './api';
import {
  type Column,
  humanBytes,
  progressAmount,
  printDetails,
  printSection,
  share,
} from './output';

/** How a person reads the objects the API serves: `vms get`, `datastores get`, task outcomes. */

function origin(vm: VmView): string {
  const from = vm.origin;
  if (from.kind === 'new') return 'created new';
  if (from.kind === 'import') return `imported from ${from.packageName}`;
  if (from.kind === 'fork')
    return `instant clone forked from ${from.parentVmId}${from.poolId ? ` (pool ${from.poolId})` : ''}`;
  const kind = from.linked ? 'linked clone' : `full clone (${from.format})`;
  return `${kind} of ${from.sourceVmId}${from.snapshotId ? ` at snapshot ${from.snapshotId}` : ''}`;
}

function currentSnapshot(vm: VmView): string {
  if (vm.snapshots.length === 0) return 'none';
  const current = vm.snapshots.find((s) => s.snapshotId === vm.currentSnapshotId);
  return `${vm.snapshots.length}; running from ${current ? `"${current.name}" (${current.snapshotId})` : 'none'}`;
}

const DISK_COLUMNS: Column<VmView['disks'][number]>[] = [
  { header: 'Disk id', value: (d) => d.diskId },
  { header: 'Capacity', value: (d) => humanBytes(d.capacityBytes) },
  { header: 'Format', value: (d) => d.format },
  { header: 'Layer', value: (d) => d.layerId ?? '—' },
  {
    header: 'Allocated',
    value: (d) => (d.allocatedBytes === null ? '—' : humanBytes(d.allocatedBytes)),
  },
];

const NIC_COLUMNS: Column<VmView['nics'][number]>[] = [
  { header: 'Network', value: (n) => n.network },
  { header: 'MAC', value: (n) => n.macAddress },
];

const EXPORT_COLUMNS: Column<LiveExport & { what: string }>[] = [
  { header: 'Image', value: (e) => `${e.imageId} (${e.what})` },
  { header: 'NBD URI', value: (e) => e.uri ?? '(shown to admin and operator only)' },
  { header: 'Access', value: (e) => (e.writable ? 'read-write' : 'read-only') },
];

export function printVm(vm: VmView): void {
  const { hardware } = vm;
  printDetails([
    ['VM id', vm.vmId],
    ['Name', vm.name],
    ['Role', vm.role],
    ['Power', vm.powerState],
    ['Lifecycle', vm.lifecycle],
    ['Folder', vm.folder],
    ['Host', vm.hostId],
    ['Datastore', vm.datastoreId],
    [
      'Hardware',
      `${hardware.vcpus} vCPU, ${humanBytes(hardware.memoryBytes)}, ${hardware.hardwareVersion}, ${hardware.guestOs}`,
    ],
    ['Origin', origin(vm)],
    [
      'Busy with',
      vm.busyWith ? `${vm.busyWith.operation} (task ${vm.busyWith.taskId})` : 'nothing',
    ],
    ['Snapshots', currentSnapshot(vm)],
    [
      'Clones in progress',
      vm.clonesInProgress
        .map((c) => `${c.targetVmId}${c.linked ? ' (linked)' : ''}, task ${c.taskId}`)
        .join('\n') || 'none',
    ],
    ['Linked clones', vm.linkedClones.join('\n') || 'none'],
    ['Version', vm.version],
  ]);
  printSection('Disks', vm.disks, DISK_COLUMNS);
  printSection('NICs', vm.nics, NIC_COLUMNS);
  if (vm.live) {
    printSection(`Live on worker ${vm.live.workerId}`, liveImages(vm.live), EXPORT_COLUMNS);
  }
}

function liveImages(live: NonNullable<VmView['live']>): (LiveExport & { what: string })[] {
  return [
    ...live.exports.map((e) => ({ ...e, what: 'disk' })),
    { ...live.memoryImage, what: 'memory' },
  ];
}

export function printDatastore(datastore: DatastoreView): void {
  const { space } = datastore;
  printDetails([
    ['Datastore id', datastore.datastoreId],
    ['Name', datastore.name],
    ['Folder', datastore.folder],
    ['Accessibility', datastore.accessibility ?? ''],
    ...(datastore.accessibilityReason
      ? [['Inaccessible because', datastore.accessibilityReason] as [string, string]]
      : []),
    ['Capacity', humanBytes(datastore.capacityBytes)],
    ['Overcommit ratio', datastore.overcommitRatio],
    ...(space
      ? ([
          [
            'Claimed physical',
            `${humanBytes(space.claimedPhysicalBytes)} (${share(space.claimedPhysicalBytes, datastore.capacityBytes)} of capacity)`,
          ],
          ['Free', humanBytes(space.freeBytes)],
          [
            'Promised to guests',
            `${humanBytes(space.claimedProvisionedBytes)} of ${humanBytes(space.provisionableBytes)} provisionable (${share(space.claimedProvisionedBytes, space.provisionableBytes)})`,
          ],
        ] as [string, unknown][])
      : []),
    ['Registered', datastore.registeredAt],
  ]);
}

export function printTask(task: TaskView): void {
  const { progress } = task;
  const bytes = progressAmount(progress);
  printDetails([
    ['Task id', task.taskId],
    ['Operation', task.operation],
    ['Target', `${task.target.type} ${task.target.id}`],
    ['Status', `${task.status}${task.cancelRequested ? ' (cancel requested)' : ''}`],
    [
      'Progress',
      `${progress.percent}%${bytes ? ` (${bytes})` : ''}${progress.phase ? `, ${progress.phase}` : ''}`,
    ],
    ['Error', task.error ? taskErrorLine(task) : 'none'],
    ['Attempt', `${task.attempt}${task.workerId ? ` on ${task.workerId}` : ''}`],
    ['By', `${task.actor.id} (${task.actor.role})`],
    ['Correlation id', task.correlationId],
    ['Created', task.createdAt],
    ['Updated', task.updatedAt],
    ['Completed', task.completedAt],
  ]);
}

/**
 * Snapshots as a tree, oldest first, each under its parent, with the one the VM runs from
 * marked: what vSphere's snapshot manager shows.
 */
export function snapshotTree(
  snapshots: SnapshotView[],
  currentSnapshotId: string | null,
): { line: string; snapshot: SnapshotView }[] {
  const ids = new Set(snapshots.map((s) => s.snapshotId));
  const children = (parent: string | null) =>
    snapshots.filter(
      (s) =>
        (s.parentSnapshotId !== null && ids.has(s.parentSnapshotId) ? s.parentSnapshotId : null) ===
        parent,
    );
  const lines: { line: string; snapshot: SnapshotView }[] = [];
  const walk = (parent: string | null, depth: number) => {
    for (const snapshot of children(parent)) {
      const mark = snapshot.snapshotId === currentSnapshotId ? '  <- you are here' : '';
      lines.push({ line: `${'  '.repeat(depth)}${snapshot.name}${mark}`, snapshot });
      walk(snapshot.snapshotId, depth + 1);
    }
  };
  walk(null, 0);
  return lines;
}

/** One line that names what a task made or changed. */
export function summary(type: string, resource: Record<string, unknown>): string {
  const id = resource.vmId ?? resource.datastoreId ?? resource.hostId ?? '';
  const name = resource.name ? ` "${String(resource.name)}"` : '';
  const state =
    type === 'vm' ? `: ${resource.role}, ${resource.powerState}, ${resource.lifecycle}` : '';
  return `${type} ${String(id)}${name}${state}`;
}
