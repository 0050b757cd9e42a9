import {
  type DatastoreState,
  type HostState,
  type TaskState,
  type VmState,
  type WorkerState,
  datastoreDecider,
  datastoreStreamId,
  hostDecider,
  hostStreamId,
  taskDecider,
  taskStreamId,
  vmDecider,
  vmStreamId,
  workerDecider,
  workerStreamId,
} from '@dolly/domain';
import type { StreamSlot } from './command-handler';

/** The stream of each kind of object, as a decision across streams reads it. */
export const vmSlot = (vmId: string): StreamSlot<VmState> => ({
  streamId: vmStreamId(vmId),
  streamType: 'vm',
  fold: vmDecider,
});
export const taskSlot = (taskId: string): StreamSlot<TaskState> => ({
  streamId: taskStreamId(taskId),
  streamType: 'task',
  fold: taskDecider,
});
export const hostSlot = (hostId: string): StreamSlot<HostState> => ({
  streamId: hostStreamId(hostId),
  streamType: 'host',
  fold: hostDecider,
});
export const datastoreSlot = (datastoreId: string): StreamSlot<DatastoreState> => ({
  streamId: datastoreStreamId(datastoreId),
  streamType: 'datastore',
  fold: datastoreDecider,
});
export const workerSlot = (workerId: string): StreamSlot<WorkerState> => ({
  streamId: workerStreamId(workerId),
  streamType: 'worker',
  fold: workerDecider,
});
