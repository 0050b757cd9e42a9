import type { ExportJob, Placement } from '../jobs/jobs';
import type { TransferGrant } from '../jobs/jobs';
import type { Static } from '@sinclair/typebox';
import { type JobEnding, present, queue } from './steps';
import type { Workspace } from './workspace';

/**
 * Export a VM or template as an OVA (vSphere's Export OVF Template): powered off as it is, or a
 * running VM from one of its snapshots. The VM takes no other exclusive operation meanwhile; the
 * worker converts its disks and streams the package to the API, which streams it to the caller.
 */
export interface ExportRequest {
  vmId: string;
  taskId: string;
  snapshotId: string | null;
  transfer: Static<typeof TransferGrant>;
  placement: Placement;
}

export function startExport(ws: Workspace, input: ExportRequest): void {
  const vm = present(ws, input.vmId);
  const { taskId, snapshotId } = input;
  ws.decideVm({ type: 'StartExport', data: { vmId: vm.vmId, taskId, snapshotId } });
  const snapshot = snapshotId ? vm.snapshots.find((s) => s.snapshotId === snapshotId)! : null;
  const job: ExportJob = {
    kind: 'export',
    vmId: vm.vmId,
    datastoreId: vm.datastoreId,
    snapshotId,
    transfer: input.transfer,
    vm: { name: vm.name, hardware: vm.hardware, nics: vm.nics },
    disks: vm.disks.map((disk) => ({
      diskId: disk.diskId,
      label: disk.label,
      capacityBytes: disk.capacityBytes,
      layerId: snapshot?.layers.find((l) => l.diskId === disk.diskId)?.layerId ?? null,
    })),
  };
  queue(ws, taskId, 'ExportVm', { type: 'vm', id: vm.vmId }, job, input.placement);
}

export function completeExport(ws: Workspace, job: ExportJob, taskId: string): void {
  ws.decideVm({ type: 'FinishExport', data: { vmId: job.vmId, taskId, outcome: 'succeeded' } });
}

export function abandonExport(ws: Workspace, job: ExportJob, ending: JobEnding): void {
  if (ws.vm(job.vmId).status !== 'present') return;
  ws.decideVm({
    type: 'FinishExport',
    data: {
      vmId: job.vmId,
      taskId: ending.taskId,
      outcome: ending.cancelled ? 'cancelled' : 'failed',
    },
  });
}
