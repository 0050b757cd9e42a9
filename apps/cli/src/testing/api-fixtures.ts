import type { CommandAccepted } from '../../../api/src/shared/command-accepted.representation';
import type { DatastoreView } from '../../../api/src/inventory/inventory.representation';
import type { TaskView } from '../../../api/src/tasks/task.representation';
import type { VmView } from '../../../api/src/vms/queries/vm.representation';

/**
 * What the API answers, as the CLI's specs need it: typed as the API's own representations (type
 * imports only, so nothing of the API loads), and checked against their schemas whenever the fake
 * API sends them (fake-api.ts).
 */

export const TASK_ID = '0196a3c0-0000-7000-8000-000000000001';
export const VM_ID = '0196a3c0-0000-7000-8000-0000000000a1';
export const CLONE_ID = '0196a3c0-0000-7000-8000-0000000000c1';
export const HOST_ID = '0196a3c0-0000-7000-8000-0000000000a9';
export const DATASTORE_ID = '0196a3c0-0000-7000-8000-0000000000e1';
const GiB = 1024 ** 3;

export function taskView(overrides: Partial<TaskView> = {}): TaskView {
  return {
    taskId: TASK_ID,
    operation: 'CloneVm',
    target: { type: 'vm', id: CLONE_ID },
    status: 'queued',
    attempt: 0,
    workerId: null,
    cancelRequested: false,
    progress: bytesProgress(0, 0, 0),
    error: null,
    actor: { id: 'admin', role: 'admin' },
    correlationId: '0196a3c0-0000-7000-8000-0000000000f1',
    projected: true,
    createdAt: '2025-01-01T10:00:00.000Z',
    updatedAt: '2025-01-01T10:00:00.000Z',
    completedAt: null,
    ...overrides,
  };
}

/** A worker's progress in bytes, as the API shows it. */
export function bytesProgress(
  percent: number,
  done: number,
  total: number,
  phase: string | null = null,
): TaskView['progress'] {
  return {
    percent,
    doneBytes: done,
    totalBytes: total,
    unit: 'bytes',
    done,
    total,
    perSecond: null,
    phase,
  };
}

/** A clone going from queued through a copy to `status`. */
export function cloneTasks(end: Partial<TaskView>): TaskView[] {
  return [
    taskView(),
    taskView({
      status: 'running',
      attempt: 1,
      workerId: 'worker-1',
      progress: bytesProgress(50, GiB / 2, GiB, 'copy'),
    }),
    taskView({
      attempt: 1,
      workerId: 'worker-1',
      updatedAt: '2025-01-01T10:00:12.000Z',
      completedAt: '2025-01-01T10:00:12.000Z',
      ...end,
    }),
  ];
}

export function accepted(taskId = TASK_ID, target = { type: 'vm', id: CLONE_ID }): CommandAccepted {
  return {
    taskId,
    status: 'queued',
    changed: true,
    projected: false,
    target: { ...target, version: 1 },
    links: { task: `/tasks/${taskId}`, target: `/vms/${target.id}` },
  };
}

/** A new, powered-off VM with one disk and no snapshot. */
export function vmView(overrides: Partial<VmView> = {}): VmView {
  return {
    vmId: VM_ID,
    name: 'web-01',
    folder: '/',
    role: 'vm',
    powerState: 'poweredOff',
    lifecycle: 'ready',
    hostId: HOST_ID,
    datastoreId: DATASTORE_ID,
    hardware: { vcpus: 2, memoryBytes: 4 * GiB, hardwareVersion: 'vmx-19', guestOs: 'otherGuest' },
    disks: [],
    nics: [],
    biosUuid: '0196a3c0-0000-7000-8000-0000000000b9',
    origin: { kind: 'new' },
    poolId: null,
    busyWith: null,
    clonesInProgress: [],
    forksInProgress: [],
    linkedClones: [],
    snapshots: [],
    currentSnapshotId: null,
    live: null,
    createdAt: '2025-01-01T10:00:00.000Z',
    updatedAt: '2025-01-01T10:00:00.000Z',
    version: 1,
    ...overrides,
  };
}

/** An accessible, adopted-nowhere datastore of 1 TiB, nothing measured yet. */
export function datastoreView(overrides: Partial<DatastoreView> = {}): DatastoreView {
  return {
    datastoreId: DATASTORE_ID,
    name: 'ds-01',
    capacityBytes: 1024 * GiB,
    folder: '/srv/ds-01',
    overcommitRatio: 1,
    adopted: false,
    accessibility: 'accessible',
    accessibilityReason: null,
    space: {
      claimedPhysicalBytes: 0,
      claimedProvisionedBytes: 0,
      freeBytes: 1024 * GiB,
      provisionableBytes: 1024 * GiB,
      measured: null,
    },
    registeredAt: '2025-01-01T10:00:00.000Z',
    ...overrides,
  };
}
