import type { Placement, SnapshotJob } from '../jobs/jobs';
import type { DiskPlacement } from '../vm/vm.events';
import { present, queue } from './steps';
import type { Workspace } from './workspace';

/** Take, revert to, or delete a snapshot: the VM is busy, a worker switches its layers. */
export type SnapshotRequest =
  | {
      action: 'take';
      vmId: string;
      taskId: string;
      snapshotId: string;
      name: string;
      description: string;
      placement: Placement;
    }
  | {
      action: 'revert' | 'delete';
      vmId: string;
      taskId: string;
      snapshotId: string;
      placement: Placement;
    };

const OPERATION = {
  take: 'TakeSnapshot',
  revert: 'RevertToSnapshot',
  delete: 'DeleteSnapshot',
} as const;

export function requestSnapshotAction(ws: Workspace, input: SnapshotRequest): void {
  const vm = present(ws, input.vmId);
  const { taskId, snapshotId } = input;
  const data = { vmId: vm.vmId, taskId, snapshotId };
  if (input.action === 'take') {
    const { name, description } = input;
    ws.decideVm({ type: 'TakeSnapshot', data: { ...data, name, description } });
  } else {
    ws.decideVm({ type: OPERATION[input.action], data });
  }
  const snapshot = vm.snapshots.find((s) => s.snapshotId === snapshotId);
  const job: SnapshotJob = {
    kind: 'snapshot',
    action: input.action,
    vmId: vm.vmId,
    datastoreId: vm.datastoreId,
    snapshotId,
    live: vm.powerState === 'poweredOn',
    disks: vm.disks.map((disk) => ({
      diskId: disk.diskId,
      snapshotLayerId: snapshot?.layers.find((l) => l.diskId === disk.diskId)?.layerId ?? null,
    })),
  };
  queue(ws, taskId, OPERATION[input.action], { type: 'vm', id: vm.vmId }, job, input.placement);
}

export type SnapshotOutcome =
  | {
      kind: 'snapshot';
      action: 'take';
      layers: { diskId: string; layerId: string }[];
      disks: DiskPlacement[];
    }
  | { kind: 'snapshot'; action: 'revert'; disks: DiskPlacement[] }
  | { kind: 'snapshot'; action: 'delete' };

/** The worker switched the layers: the snapshot is taken, reverted to, or gone. */
export function completeSnapshot(
  ws: Workspace,
  job: SnapshotJob,
  taskId: string,
  outcome: SnapshotOutcome,
): void {
  const vmId = job.vmId;
  if (outcome.action === 'take') {
    const { layers, disks } = outcome;
    ws.decideVm({ type: 'RecordSnapshotTaken', data: { vmId, taskId, layers, disks } });
  } else if (outcome.action === 'revert') {
    ws.decideVm({ type: 'RecordReverted', data: { vmId, taskId, disks: outcome.disks } });
  } else {
    ws.decideVm({ type: 'RecordSnapshotDeleted', data: { vmId, taskId } });
  }
}
