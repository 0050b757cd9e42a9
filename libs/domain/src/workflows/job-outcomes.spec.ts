import type { Job } from '../jobs/jobs';
import { jobOutcomeStreams } from './job-outcomes';

const taskId = 't';
const fork = (poolId: string | null): Job => ({
  kind: 'fork',
  parentVmId: 'parent',
  targetVmId: 'clone',
  replicaVmId: 'replica',
  poolId,
  datastoreId: 'ds',
  disks: [],
  memoryImage: { sourceImageId: 'm0', imageId: 'm1' },
});
const deleteVm = (poolId: string | null): Job => ({
  kind: 'delete-vm',
  vmId: 'vm',
  datastoreId: 'ds',
  diskIds: [],
  memoryImageId: null,
  live: false,
  linkedTo: 'source',
  poolId,
});

describe('the streams a job’s outcome decides on', () => {
  it('a pool’s job waits on its pool; a fork by hand on its parent; others on nothing', () => {
    expect(jobOutcomeStreams(taskId, fork('pool')).serializeOn).toEqual({
      kind: 'pool',
      id: 'pool',
    });
    expect(jobOutcomeStreams(taskId, fork(null)).serializeOn).toEqual({ kind: 'vm', id: 'parent' });
    expect(jobOutcomeStreams(taskId, deleteVm('pool')).serializeOn).toEqual({
      kind: 'pool',
      id: 'pool',
    });
    expect(jobOutcomeStreams(taskId, deleteVm(null)).serializeOn).toBeUndefined();
  });

  it('reads the task, the VMs, the datastore and the pool the outcome writes', () => {
    expect(jobOutcomeStreams(taskId, deleteVm('pool')).streams).toEqual([
      { kind: 'task', id: taskId },
      { kind: 'vm', id: 'vm' },
      { kind: 'vm', id: 'source' },
      { kind: 'datastore', id: 'ds' },
      { kind: 'pool', id: 'pool' },
    ]);
    expect(
      jobOutcomeStreams(taskId, { kind: 'restore-quarantined', datastoreId: 'ds', layerId: 'l' })
        .streams,
    ).toEqual([
      { kind: 'task', id: taskId },
      { kind: 'datastore', id: 'ds' },
    ]);
  });
});
