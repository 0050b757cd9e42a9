import { spaceReasons } from '../datastore/datastore';
import type { ImportJob, ImportSource, Placement } from '../jobs/jobs';
import { type ErrorReason, refuseIfAny } from '../shared/errors';
import { placementReasons } from '../vm/decide/create';
import type { VmDefinition } from '../vm/vm.commands';
import type { DiskPlacement, PackageProvenance } from '../vm/vm.events';
import type { Static } from '@sinclair/typebox';
import { physicalNeed, queue, reserve } from './steps';
import type { Workspace } from './workspace';

/**
 * Import an OVF package (vSphere's Deploy OVF Template): the API read and checked its descriptor
 * and built the VM from it; here the destination is checked (host, space) with every reason the
 * package itself had, the VM joins the inventory as being provisioned, and a worker reads the
 * package to its end, converting its disks as they arrive. Nothing is imported unless all of it
 * passes: a package refused at the end leaves no VM and no disk.
 */
export interface ImportRequest {
  /** The VM as the descriptor (with the caller's choices) defines it. */
  definition: VmDefinition;
  role: 'vm' | 'template';
  taskId: string;
  placement: Placement;
  source: ImportSource;
  package: ImportJob['package'];
  virtualSystemId: string;
  deploymentOption: string | null;
  requireCertificate: boolean;
  /** The DiskSection disk each of the definition's disks is made from, in the same order. */
  ovfDiskIds: string[];
  /** Why the package or the caller's choices are refused, found before deciding (every one). */
  packageReasons: ErrorReason[];
  /** Space each disk needs beyond its format's: the package's populated size (thin). */
  populatedBytes: number[];
}

export function startImport(ws: Workspace, input: ImportRequest): void {
  const { definition, taskId } = input;
  const { hostId, datastoreId } = definition;
  const datastore = ws.datastore(datastoreId);
  const claims = definition.disks.map((disk, index) => ({
    diskId: disk.diskId,
    physicalBytes: physicalNeed(disk.format, disk.capacityBytes, input.populatedBytes[index] ?? 0),
    provisionedBytes: disk.capacityBytes,
  }));
  refuseIfAny('IMPORT.REFUSED', `${input.package.name} cannot be imported as asked`, [
    ...input.packageReasons,
    ...placementReasons(definition, { host: ws.host(hostId), datastore }),
    ...(datastore.status === 'registered'
      ? spaceReasons(datastore, claims).map((reason) => ({ ...reason, pointer: '/datastoreId' }))
      : []),
  ]);
  ws.decideVm(
    {
      type: 'CreateClone',
      data: {
        ...definition,
        role: input.role,
        provisioningTaskId: taskId,
        origin: {
          kind: 'import',
          packageName: input.package.name,
          descriptorSha256: input.package.descriptorSha256,
        },
        poolId: null,
      },
    },
    { host: ws.host(hostId), datastore },
  );
  reserve(ws, datastoreId, taskId, claims);
  const job: ImportJob = {
    kind: 'import',
    vmId: definition.vmId,
    datastoreId,
    source: input.source,
    package: input.package,
    virtualSystemId: input.virtualSystemId,
    deploymentOption: input.deploymentOption,
    requireCertificate: input.requireCertificate,
    disks: definition.disks.map(({ diskId, capacityBytes, format }, index) => ({
      ovfDiskId: input.ovfDiskIds[index],
      diskId,
      capacityBytes,
      format,
    })),
  };
  queue(ws, taskId, 'ImportVm', { type: 'vm', id: definition.vmId }, job, input.placement);
}

/** The package passed every check to its end and its disks exist: the VM is ready. */
export function completeImport(
  ws: Workspace,
  job: ImportJob,
  taskId: string,
  outcome: { disks: DiskPlacement[]; package: Static<typeof PackageProvenance> },
): void {
  ws.decideVm({
    type: 'RecordImported',
    data: { vmId: job.vmId, taskId, package: outcome.package },
  });
  ws.decideVm({
    type: 'RecordProvisioned',
    data: { vmId: job.vmId, taskId, disks: outcome.disks },
  });
}
