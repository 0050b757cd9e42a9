import type { Placement, PowerJob } from '../jobs/jobs';
import type { Requester } from '../vm/vm';
import type { LiveExport, PowerState } from '../vm/vm.events';
import { present, queue } from './steps';
import type { Workspace } from './workspace';

/** Power on, off, suspend: the VM is busy, a worker opens or closes its disks and memory image. */
export interface PowerRequest {
  vmId: string;
  to: PowerState;
  taskId: string;
  memoryImageId: string;
  placement: Placement;
  operation: string;
  requester: Requester;
}

export function requestPower(ws: Workspace, input: PowerRequest): void {
  const vm = present(ws, input.vmId);
  const { taskId, to, requester } = input;
  ws.decideVm({ type: 'RequestPowerChange', data: { vmId: vm.vmId, taskId, to, requester } });
  const job: PowerJob = {
    kind: 'power',
    vmId: vm.vmId,
    datastoreId: vm.datastoreId,
    to,
    from: vm.powerState,
    diskIds: vm.disks.map((disk) => disk.diskId),
    // A suspended VM resumes from the memory image it kept; otherwise a fresh one.
    memoryImage: {
      imageId: vm.live?.memoryImage.imageId ?? input.memoryImageId,
      sizeBytes: vm.hardware.memoryBytes,
    },
  };
  queue(ws, taskId, input.operation, { type: 'vm', id: vm.vmId }, job, input.placement);
}

export type PowerOutcome =
  | {
      kind: 'power';
      to: 'poweredOn';
      workerId: string;
      exports: LiveExport[];
      memoryImage: LiveExport;
    }
  | { kind: 'power'; to: 'poweredOff' | 'suspended' };

/** The worker opened (or closed) the VM: it runs where the worker exports it, or not at all. */
export function completePower(
  ws: Workspace,
  job: PowerJob,
  taskId: string,
  outcome: PowerOutcome,
): void {
  const vmId = job.vmId;
  if (outcome.to === 'poweredOn') {
    const { workerId, exports, memoryImage } = outcome;
    ws.decideVm({
      type: 'RecordPoweredOn',
      data: { vmId, taskId, workerId, exports, memoryImage },
    });
  } else if (outcome.to === 'poweredOff') {
    ws.decideVm({ type: 'RecordPoweredOff', data: { vmId, taskId } });
  } else {
    ws.decideVm({ type: 'RecordSuspended', data: { vmId, taskId } });
  }
}
