import type { Command } from '../shared/decider';
import type {
  PoolCreated,
  PoolImage,
  PoolPushSchedule,
  PoolRollout,
  PoolSettings,
} from './pool.events';

type PoolRef = { poolId: string };
export type CreatePool = Command<'CreatePool', PoolCreated['data']>;
export type RecordImagePublished = Command<'RecordImagePublished', PoolRef & { taskId: string }>;
export type RecordImageFailed = Command<
  'RecordImageFailed',
  PoolRef & { taskId: string; code: string; message: string }
>;
export type RequestMachine = Command<
  'RequestMachine',
  PoolRef & {
    vmId: string;
    taskId: string;
    userId: string | null;
    /** One of the current image's parents: where it runs and stands. */
    parentVmId: string;
    /** A desktop being removed whose name (number) the new machine takes: a dedicated user's, re-forked from a new image. */
    replacing?: string;
  }
>;
export type PushImage = Command<
  'PushImage',
  PoolRef & {
    image: PoolImage;
    rollout: PoolRollout;
    /** Started by the scheduler for the push scheduled now (others wait for it, or cancel it). */
    scheduled?: boolean;
  }
>;
export type SchedulePush = Command<'SchedulePush', PoolPushSchedule>;
export type RecordMachinesLost = Command<
  'RecordMachinesLost',
  PoolRef & { vmIds: string[]; workerIds: string[] }
>;
export type UnschedulePush = Command<
  'UnschedulePush',
  PoolRef & { reason: string; code: string | null }
>;
export type RecordMachineReady = Command<'RecordMachineReady', PoolRef & { vmId: string }>;
export type RecordMachineFailed = Command<
  'RecordMachineFailed',
  PoolRef & { vmId: string; code: string; message: string }
>;
export type AssignDesktop = Command<'AssignDesktop', PoolRef & { vmId: string; userId: string }>;
export type LogOff = Command<'LogOff', PoolRef & { vmId: string }>;
export type RequestMachineRefresh = Command<
  'RequestMachineRefresh',
  PoolRef & { vmId: string; taskId: string }
>;
export type RecordMachineRefreshed = Command<'RecordMachineRefreshed', PoolRef & { vmId: string }>;
export type RequestVmRemoval = Command<
  'RequestVmRemoval',
  PoolRef & { vmId: string; taskId: string }
>;
export type RecordVmRemoved = Command<'RecordVmRemoved', PoolRef & { vmId: string }>;
export type EditPool = Command<
  'EditPool',
  PoolRef & Partial<Pick<PoolSettings, 'name' | 'maxMachines' | 'spareMachines'>>
>;
export type DeletePool = Command<'DeletePool', PoolRef>;
export type RecordMachineRefreshFailed = Command<
  'RecordMachineRefreshFailed',
  PoolRef & { vmId: string; code: string; message: string }
>;
export type RecordRemovalFailed = Command<
  'RecordRemovalFailed',
  PoolRef & { vmId: string; code: string; message: string }
>;

export type PoolCommand =
  | CreatePool
  | RecordImagePublished
  | RecordImageFailed
  | RequestMachine
  | RecordMachineReady
  | RecordMachineFailed
  | AssignDesktop
  | LogOff
  | RequestMachineRefresh
  | RecordMachineRefreshed
  | RecordMachineRefreshFailed
  | RequestVmRemoval
  | RecordRemovalFailed
  | RecordVmRemoved
  | EditPool
  | DeletePool
  | PushImage
  | SchedulePush
  | UnschedulePush
  | RecordMachinesLost;
