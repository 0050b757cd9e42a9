import {
  type DatastoreState,
  THIN_LAYER_OVERHEAD_BYTES,
  datastoreDecider,
} from '../datastore/datastore';
import type {
  DatastoreEvent,
  DatastoreUsageMeasured,
  SpaceClaim,
} from '../datastore/datastore.events';
import { blockMapsMeasured } from '../vm/block-map-events';
import type { HostState } from '../host/host';
import {
  type CloneJob,
  type DeleteVmJob,
  type Job,
  type Placement,
  isVmJob,
  jobDisks,
} from '../jobs/jobs';
import { IllegalStateError, NotFoundError } from '../shared/errors';
import { type TaskState, taskDecider } from '../task/task';
import type { TaskEvent } from '../task/task.events';
import {
  type ExistingVm,
  type Requester,
  type VmDefinition,
  type VmState,
  memoryImageOf,
  vmDecider,
} from '../vm/vm';
import type {
  CloneFormat,
  DiskFormat,
  DiskPlacement,
  LiveExport,
  Nic,
  PowerState,
  VirtualHardware,
  VmEvent,
  VmRole,
  DiskBlockMap,
} from '../vm/vm.events';

/**
 * Operations that span several streams, decided at once: a VM's events, the datastore's space
 * claims and the task that carries the job to a worker. Each stream's own decider still decides its
 * part, so every stream's rules hold; the caller appends all of it in one transaction, each stream
 * at the version it was read.
 */
export interface Changes {
  vm?: VmEvent[];
  /** A clone's source. */
  source?: VmEvent[];
  datastore?: DatastoreEvent[];
  task?: TaskEvent[];
  /** A second task the outcome starts (power on a clone once it is made). */
  followUp?: TaskEvent[];
}

function present(state: VmState, vmId: string): ExistingVm {
  if (state.status !== 'present')
    throw new NotFoundError('VM.NOT_FOUND', `VM ${vmId} does not exist`);
  return state;
}

function queue(
  taskId: string,
  operation: string,
  target: { type: 'vm'; id: string },
  job: Job,
  placement: Placement,
): TaskEvent[] {
  return taskDecider.decide(
    { type: 'QueueTask', data: { taskId, operation, target, job, placement } },
    taskDecider.initialState(),
    undefined,
  );
}

function reserve(
  datastore: DatastoreState,
  datastoreId: string,
  taskId: string,
  claims: SpaceClaim[],
): DatastoreEvent[] {
  if (claims.length === 0) return [];
  return datastoreDecider.decide(
    { type: 'ReserveSpace', data: { datastoreId, taskId, claims } },
    datastore,
    undefined,
  );
}

/** What a new disk may take: thick disks all of their capacity, thin ones their measured need. */
export function physicalNeed(format: DiskFormat, capacityBytes: number, thinNeedBytes = 0): number {
  return format === 'thin'
    ? thinNeedBytes + THIN_LAYER_OVERHEAD_BYTES
    : capacityBytes + THIN_LAYER_OVERHEAD_BYTES;
}

// ------------------------------------------------------------------------------------------------
// Create

export interface ProvisionNewVm {
  definition: VmDefinition;
  taskId: string;
  placement: Placement;
}

export function provisionNewVm(
  input: ProvisionNewVm,
  states: { vm: VmState; host: HostState; datastore: DatastoreState },
): Changes {
  const { definition, taskId } = input;
  const hasDisks = definition.disks.length > 0;
  const vm = vmDecider.decide(
    { type: 'CreateVm', data: { ...definition, provisioningTaskId: hasDisks ? taskId : null } },
    states.vm,
    { host: states.host, datastore: states.datastore },
  );
  if (!hasDisks) return { vm };
  const claims = definition.disks.map((disk) => ({
    diskId: disk.diskId,
    physicalBytes: physicalNeed(disk.format, disk.capacityBytes),
    provisionedBytes: disk.capacityBytes,
  }));
  const job: Job = {
    kind: 'create-disks',
    vmId: definition.vmId,
    datastoreId: definition.datastoreId,
    disks: definition.disks.map(({ diskId, capacityBytes, format }) => ({
      diskId,
      capacityBytes,
      format,
    })),
  };
  return {
    vm,
    datastore: reserve(states.datastore, definition.datastoreId, taskId, claims),
    task: queue(taskId, 'CreateVm', { type: 'vm', id: definition.vmId }, job, input.placement),
  };
}

// ------------------------------------------------------------------------------------------------
// Clone (VM → VM, VM → template, template → template, template → VM: deploy)

export interface CloneRequest {
  sourceVmId: string;
  targetVmId: string;
  taskId: string;
  name: string;
  folder?: string;
  role: VmRole;
  hostId?: string;
  datastoreId?: string;
  linked: boolean;
  snapshotId: string | null;
  format: CloneFormat;
  hardware?: Partial<Pick<VirtualHardware, 'vcpus' | 'memoryBytes'>>;
  /** New identity: fresh disk ids (one per source disk, in order), MACs (one per NIC), BIOS UUID. */
  identity: { diskIds: string[]; macAddresses: string[]; biosUuid: string };
  placement: Placement;
  operation: string;
  /** Power the clone on once its disks exist (a second task, queued by the worker). */
  powerOnAfter: boolean;
}

export function startClone(
  input: CloneRequest,
  states: { source: VmState; target: VmState; host: HostState; datastore: DatastoreState },
): Changes {
  const source = present(states.source, input.sourceVmId);
  if (
    input.identity.diskIds.length !== source.disks.length ||
    input.identity.macAddresses.length !== source.nics.length
  ) {
    throw new Error('A clone needs one new disk id per disk and one MAC address per NIC');
  }
  const datastoreId = input.datastoreId ?? source.datastoreId;
  if (input.linked && datastoreId !== source.datastoreId) {
    throw new IllegalStateError(
      'CLONE.LINKED_ACROSS_DATASTORES',
      'A linked clone stands on its source’s layers: it stays on the same datastore',
    );
  }
  const sourceEvents = vmDecider.decide(
    {
      type: 'StartClone',
      data: {
        vmId: source.vmId,
        taskId: input.taskId,
        targetVmId: input.targetVmId,
        linked: input.linked,
        snapshotId: input.snapshotId,
        format: input.format,
      },
    },
    states.source,
    {},
  );
  const snapshot = input.snapshotId
    ? source.snapshots.find((s) => s.snapshotId === input.snapshotId)!
    : null;
  const formatOf = (sourceFormat: DiskFormat): DiskFormat =>
    input.linked ? 'thin' : input.format === 'same' ? sourceFormat : input.format;
  const disks = source.disks.map((disk, index) => ({
    ...disk,
    diskId: input.identity.diskIds[index],
    format: formatOf(disk.format),
  }));
  const nics: Nic[] = source.nics.map((nic, index) => ({
    ...nic,
    macAddress: input.identity.macAddresses[index],
  }));
  const target = vmDecider.decide(
    {
      type: 'CreateClone',
      data: {
        vmId: input.targetVmId,
        name: input.name,
        folder: input.folder ?? source.folder,
        role: input.role,
        hostId: input.hostId ?? source.hostId,
        datastoreId,
        hardware: { ...source.hardware, ...input.hardware },
        disks,
        nics,
        biosUuid: input.identity.biosUuid,
        provisioningTaskId: input.taskId,
        origin: {
          kind: 'clone',
          sourceVmId: source.vmId,
          snapshotId: input.snapshotId,
          linked: input.linked,
          format: input.format,
        },
        poolId: null,
      },
    },
    states.target,
    { host: states.host, datastore: states.datastore },
  );
  const allocatedOf = (diskId: string) =>
    source.placements.find((p) => p.diskId === diskId)?.allocatedBytes ?? 0;
  const claims = disks.map((disk, index) => ({
    diskId: disk.diskId,
    // A linked clone's delta starts empty; a thin copy needs what the source holds (the worker
    // measures it exactly with qemu-img measure before writing and claims again if it needs more).
    physicalBytes: input.linked
      ? THIN_LAYER_OVERHEAD_BYTES
      : physicalNeed(disk.format, disk.capacityBytes, allocatedOf(source.disks[index].diskId)),
    provisionedBytes: disk.capacityBytes,
  }));
  const job: CloneJob = {
    kind: 'clone',
    sourceVmId: source.vmId,
    targetVmId: input.targetVmId,
    sourceDatastoreId: source.datastoreId,
    targetDatastoreId: datastoreId,
    linked: input.linked,
    snapshotId: input.snapshotId,
    format: input.format,
    live: source.powerState === 'poweredOn' && snapshot === null,
    powerOnAfter: input.powerOnAfter,
    disks: source.disks.map((disk, index) => ({
      sourceDiskId: disk.diskId,
      sourceLayerId: snapshot?.layers.find((l) => l.diskId === disk.diskId)?.layerId ?? null,
      diskId: disks[index].diskId,
      capacityBytes: disk.capacityBytes,
      format: disks[index].format,
    })),
  };
  return {
    source: sourceEvents,
    vm: target,
    datastore: reserve(states.datastore, datastoreId, input.taskId, claims),
    task: queue(
      input.taskId,
      input.operation,
      { type: 'vm', id: input.targetVmId },
      job,
      input.placement,
    ),
  };
}

// ------------------------------------------------------------------------------------------------
// Power, snapshots, delete: one VM, one task

export function requestPower(
  input: {
    vmId: string;
    to: PowerState;
    taskId: string;
    memoryImageId: string;
    placement: Placement;
    operation: string;
    requester: Requester;
  },
  state: VmState,
): Changes {
  const vm = present(state, input.vmId);
  const { taskId, to, requester } = input;
  const events = vmDecider.decide(
    { type: 'RequestPowerChange', data: { vmId: vm.vmId, taskId, to, requester } },
    state,
    {},
  );
  const job: Job = {
    kind: 'power',
    vmId: vm.vmId,
    datastoreId: vm.datastoreId,
    to: input.to,
    from: vm.powerState,
    diskIds: vm.disks.map((disk) => disk.diskId),
    // A suspended VM resumes from the memory image it kept; otherwise a fresh one.
    memoryImage: {
      imageId: vm.live?.memoryImage.imageId ?? input.memoryImageId,
      sizeBytes: vm.hardware.memoryBytes,
    },
  };
  return {
    vm: events,
    task: queue(input.taskId, input.operation, { type: 'vm', id: vm.vmId }, job, input.placement),
  };
}

export function requestSnapshotAction(
  input:
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
      },
  state: VmState,
): Changes {
  const vm = present(state, input.vmId);
  const { taskId, snapshotId } = input;
  const events =
    input.action === 'take'
      ? vmDecider.decide(
          {
            type: 'TakeSnapshot',
            data: {
              vmId: vm.vmId,
              taskId,
              snapshotId,
              name: input.name,
              description: input.description,
            },
          },
          state,
          {},
        )
      : input.action === 'revert'
        ? vmDecider.decide(
            { type: 'RevertToSnapshot', data: { vmId: vm.vmId, taskId, snapshotId } },
            state,
            {},
          )
        : vmDecider.decide(
            { type: 'DeleteSnapshot', data: { vmId: vm.vmId, taskId, snapshotId } },
            state,
            {},
          );
  const snapshot = vm.snapshots.find((s) => s.snapshotId === snapshotId);
  const job: Job = {
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
  const operation = { take: 'TakeSnapshot', revert: 'RevertToSnapshot', delete: 'DeleteSnapshot' }[
    input.action
  ];
  return {
    vm: events,
    task: queue(taskId, operation, { type: 'vm', id: vm.vmId }, job, input.placement),
  };
}

/** The VM a linked clone (or an instant clone) stands on, whose deletion it holds back. */
export function standsOn(vm: ExistingVm): string | null {
  if (vm.origin.kind === 'clone' && vm.origin.linked) return vm.origin.sourceVmId;
  if (vm.origin.kind === 'fork') return vm.origin.replicaVmId;
  return null;
}

/** Deleting a VM's disks and memory image: closed first when it runs, its source let go after. */
export function deleteVmJob(vm: ExistingVm, poolId: string | null): DeleteVmJob {
  return {
    kind: 'delete-vm',
    vmId: vm.vmId,
    datastoreId: vm.datastoreId,
    diskIds: vm.disks.map((disk) => disk.diskId),
    memoryImageId: memoryImageOf(vm),
    live: vm.powerState === 'poweredOn',
    linkedTo: standsOn(vm),
    poolId,
  };
}

export function requestDelete(
  input: { vmId: string; taskId: string; placement: Placement; requester: Requester },
  state: VmState,
): Changes {
  const vm = present(state, input.vmId);
  const { taskId, requester } = input;
  const events = vmDecider.decide(
    { type: 'DeleteVm', data: { vmId: vm.vmId, taskId, requester } },
    state,
    {},
  );
  return {
    vm: events,
    task: queue(
      input.taskId,
      'DeleteVm',
      { type: 'vm', id: vm.vmId },
      deleteVmJob(vm, null),
      input.placement,
    ),
  };
}

// ------------------------------------------------------------------------------------------------
// Outcomes reported by the worker: the task's attempt must still be the running one

/** What the worker measured after the work: block maps of the disks it touched, the datastore's usage. */
export interface Measurements {
  blockMaps: DiskBlockMap[];
  usage: Omit<DatastoreUsageMeasured['data'], 'datastoreId'> | null;
}

export type JobOutcome =
  | { kind: 'create-disks'; disks: DiskPlacement[] }
  | { kind: 'clone'; disks: DiskPlacement[] }
  | {
      kind: 'power';
      to: 'poweredOn';
      workerId: string;
      exports: LiveExport[];
      memoryImage: LiveExport;
    }
  | { kind: 'power'; to: 'poweredOff' | 'suspended' }
  | {
      kind: 'snapshot';
      action: 'take';
      layers: { diskId: string; layerId: string }[];
      disks: DiskPlacement[];
    }
  | { kind: 'snapshot'; action: 'revert'; disks: DiskPlacement[] }
  | { kind: 'snapshot'; action: 'delete' }
  | { kind: 'delete-vm' };

export interface OutcomeStates {
  task: TaskState;
  vm: VmState;
  /** The clone's source, or the VM a deleted linked clone stood on. */
  source?: VmState;
  datastore?: DatastoreState;
}

function taskState(states: OutcomeStates) {
  if (states.task.status === 'absent')
    throw new NotFoundError('TASK.NOT_FOUND', 'The task does not exist');
  return states.task;
}

/** What a worker supplies when an outcome starts a second task. */
export interface FollowUp {
  taskId: string;
  memoryImageId: string;
  placement: Placement;
}

/** A worker finished its attempt of a task: the effect on every stream it touched. */
export function completeJob(
  attempt: number,
  outcome: JobOutcome,
  states: OutcomeStates,
  followUp?: FollowUp,
  measured?: Measurements,
): Changes {
  const changes = outcomeChanges(attempt, outcome, states, followUp);
  if (!measured) return changes;
  const { job, taskId } = taskState(states);
  if (!isVmJob(job)) return changes;
  const { vmId, datastoreId } = jobDisks(job);
  const measuredVm: VmEvent[] =
    measured.blockMaps.length > 0 && outcome.kind !== 'delete-vm'
      ? blockMapsMeasured(vmId, taskId, measured.blockMaps)
      : [];
  const measuredDatastore: DatastoreEvent[] =
    measured.usage && states.datastore
      ? [{ type: 'DatastoreUsageMeasured', data: { datastoreId, ...measured.usage } }]
      : [];
  return {
    ...changes,
    vm: [...(changes.vm ?? []), ...measuredVm],
    datastore: [...(changes.datastore ?? []), ...measuredDatastore],
  };
}

function outcomeChanges(
  attempt: number,
  outcome: JobOutcome,
  states: OutcomeStates,
  followUp?: FollowUp,
): Changes {
  const task = taskState(states);
  const { taskId, job } = task;
  const succeeded = taskDecider.decide(
    { type: 'SucceedTask', data: { taskId, attempt } },
    states.task,
    undefined,
  );
  const vmOf = (command: Parameters<typeof vmDecider.decide>[0], state = states.vm) =>
    vmDecider.decide(command, state, {});
  switch (outcome.kind) {
    case 'create-disks': {
      if (job.kind !== 'create-disks') break;
      return {
        vm: vmOf({
          type: 'RecordProvisioned',
          data: { vmId: job.vmId, taskId, disks: outcome.disks },
        }),
        task: succeeded,
      };
    }
    case 'clone': {
      if (job.kind !== 'clone' || !states.source) break;
      const cloned = vmOf({
        type: 'RecordCloned',
        data: { vmId: job.targetVmId, taskId, disks: outcome.disks },
      });
      // Power on after: the clone, now ready, starts a power task of its own.
      const powerOn =
        job.powerOnAfter && followUp
          ? requestPower(
              {
                vmId: job.targetVmId,
                to: 'poweredOn',
                taskId: followUp.taskId,
                memoryImageId: followUp.memoryImageId,
                placement: followUp.placement,
                operation: 'PowerOnVm',
                requester: { by: 'person', force: false },
              },
              cloned.reduce(vmDecider.evolve, states.vm),
            )
          : undefined;
      return {
        vm: [...cloned, ...(powerOn?.vm ?? [])],
        followUp: powerOn?.task,
        source: vmOf(
          {
            type: 'FinishClone',
            data: {
              vmId: job.sourceVmId,
              taskId,
              targetVmId: job.targetVmId,
              outcome: 'succeeded',
            },
          },
          states.source,
        ),
        task: succeeded,
      };
    }
    case 'power': {
      if (job.kind !== 'power') break;
      const vm =
        outcome.to === 'poweredOn'
          ? vmOf({
              type: 'RecordPoweredOn',
              data: {
                vmId: job.vmId,
                taskId,
                workerId: outcome.workerId,
                exports: outcome.exports,
                memoryImage: outcome.memoryImage,
              },
            })
          : outcome.to === 'poweredOff'
            ? vmOf({ type: 'RecordPoweredOff', data: { vmId: job.vmId, taskId } })
            : vmOf({ type: 'RecordSuspended', data: { vmId: job.vmId, taskId } });
      return { vm, task: succeeded };
    }
    case 'snapshot': {
      if (job.kind !== 'snapshot') break;
      const vm =
        outcome.action === 'take'
          ? vmOf({
              type: 'RecordSnapshotTaken',
              data: { vmId: job.vmId, taskId, layers: outcome.layers, disks: outcome.disks },
            })
          : outcome.action === 'revert'
            ? vmOf({
                type: 'RecordReverted',
                data: { vmId: job.vmId, taskId, disks: outcome.disks },
              })
            : vmOf({ type: 'RecordSnapshotDeleted', data: { vmId: job.vmId, taskId } });
      return { vm, task: succeeded };
    }
    case 'delete-vm': {
      if (job.kind !== 'delete-vm' || !states.datastore) break;
      return {
        vm: vmOf({ type: 'RecordDeleted', data: { vmId: job.vmId, taskId } }),
        datastore: datastoreDecider.decide(
          {
            type: 'ReleaseSpace',
            data: {
              datastoreId: job.datastoreId,
              diskIds: job.diskIds,
              reason: 'the VM was deleted',
            },
          },
          states.datastore,
          undefined,
        ),
        source:
          job.linkedTo && states.source
            ? vmOf(
                {
                  type: 'ReleaseLinkedClone',
                  data: { vmId: job.linkedTo, dependantVmId: job.vmId },
                },
                states.source,
              )
            : undefined,
        task: succeeded,
      };
    }
  }
  throw new Error(`Outcome ${outcome.kind} does not fit job ${job.kind}`);
}

/** How a worker's attempt ended without its effect. */
export interface JobEnding {
  attempt: number;
  cancelled: boolean;
  code: string;
  message: string;
}

/** The task's own ending: cancelled as asked, or failed with its stable code and reason. */
export function endTask(taskId: string, ending: JobEnding, task: TaskState): TaskEvent[] {
  return ending.cancelled
    ? taskDecider.decide(
        { type: 'ConfirmTaskCancelled', data: { taskId, attempt: ending.attempt } },
        task,
        undefined,
      )
    : taskDecider.decide(
        {
          type: 'FailTask',
          data: { taskId, attempt: ending.attempt, code: ending.code, message: ending.message },
        },
        task,
        undefined,
      );
}

/**
 * A task ended without its effect: failed (with a stable code) or cancelled. Whatever it began
 * was undone by the worker; here the streams let go: the VM is no longer busy, a clone that never
 * came to be leaves the inventory, claimed space returns.
 */
export function abandonJob(ending: JobEnding, states: OutcomeStates): Changes {
  const task = taskState(states);
  const { taskId, job } = task;
  const taskEvents = endTask(taskId, ending, states.task);
  const failure = { taskId, code: ending.code, message: ending.message };
  const release = (datastoreId: string, diskIds: string[]) =>
    states.datastore && diskIds.length > 0
      ? datastoreDecider.decide(
          {
            type: 'ReleaseSpace',
            data: {
              datastoreId,
              diskIds,
              reason: `task ${taskId} ${ending.cancelled ? 'was cancelled' : 'failed'}`,
            },
          },
          states.datastore,
          undefined,
        )
      : [];
  switch (job.kind) {
    case 'create-disks':
      return {
        vm: vmDecider.decide(
          { type: 'RecordProvisioningFailed', data: { vmId: job.vmId, ...failure } },
          states.vm,
          {},
        ),
        datastore: release(
          job.datastoreId,
          job.disks.map((d) => d.diskId),
        ),
        task: taskEvents,
      };
    case 'clone':
      return {
        vm: vmDecider.decide(
          { type: 'RecordProvisioningFailed', data: { vmId: job.targetVmId, ...failure } },
          states.vm,
          {},
        ),
        source: states.source
          ? vmDecider.decide(
              {
                type: 'FinishClone',
                data: {
                  vmId: job.sourceVmId,
                  taskId,
                  targetVmId: job.targetVmId,
                  outcome: ending.cancelled ? 'cancelled' : 'failed',
                },
              },
              states.source,
              {},
            )
          : [],
        datastore: release(
          job.targetDatastoreId,
          job.disks.map((d) => d.diskId),
        ),
        task: taskEvents,
      };
    case 'restore-quarantined':
      return { task: taskEvents };
    default:
      return {
        vm: vmDecider.decide(
          { type: 'RecordTaskFailed', data: { vmId: jobDisks(job).vmId, ...failure } },
          states.vm,
          {},
        ),
        task: taskEvents,
      };
  }
}
