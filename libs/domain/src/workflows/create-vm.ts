import type { CreateDisksJob, Placement } from '../jobs/jobs';
import type { VmDefinition } from '../vm/vm';
import type { DiskPlacement } from '../vm/vm.events';
import {
  type JobEnding,
  failureOf,
  physicalNeed,
  release,
  releaseReason,
  reserve,
  queue,
} from './steps';
import type { Workspace } from './workspace';

/**
 * Create a VM: the VM is in the inventory at once; its disks, if any, are made by a worker
 * (a create-disks task), with the datastore's space claimed until then.
 */
export interface ProvisionNewVm {
  definition: VmDefinition;
  taskId: string;
  placement: Placement;
}

export function provisionNewVm(ws: Workspace, input: ProvisionNewVm): void {
  const { definition, taskId } = input;
  const hasDisks = definition.disks.length > 0;
  ws.decideVm(
    { type: 'CreateVm', data: { ...definition, provisioningTaskId: hasDisks ? taskId : null } },
    { host: ws.host(definition.hostId), datastore: ws.datastore(definition.datastoreId) },
  );
  if (!hasDisks) return;
  reserve(
    ws,
    definition.datastoreId,
    taskId,
    definition.disks.map((disk) => ({
      diskId: disk.diskId,
      physicalBytes: physicalNeed(disk.format, disk.capacityBytes),
      provisionedBytes: disk.capacityBytes,
    })),
  );
  const job: CreateDisksJob = {
    kind: 'create-disks',
    vmId: definition.vmId,
    datastoreId: definition.datastoreId,
    disks: definition.disks.map(({ diskId, capacityBytes, format }) => ({
      diskId,
      capacityBytes,
      format,
    })),
  };
  queue(ws, taskId, 'CreateVm', { type: 'vm', id: definition.vmId }, job, input.placement);
}

/** The worker made the disks: the VM is ready. */
export function completeCreateDisks(
  ws: Workspace,
  job: CreateDisksJob,
  taskId: string,
  outcome: { disks: DiskPlacement[] },
): void {
  ws.decideVm({
    type: 'RecordProvisioned',
    data: { vmId: job.vmId, taskId, disks: outcome.disks },
  });
}

/**
 * A new VM's disks could not be made (created empty, or imported from a package): the VM failed,
 * its space returns.
 */
export function abandonNewVm(
  ws: Workspace,
  job: Pick<CreateDisksJob, 'vmId' | 'datastoreId'> & { disks: { diskId: string }[] },
  ending: JobEnding,
): void {
  ws.decideVm({ type: 'RecordProvisioningFailed', data: { vmId: job.vmId, ...failureOf(ending) } });
  release(
    ws,
    job.datastoreId,
    job.disks.map((d) => d.diskId),
    releaseReason(ending),
  );
}
