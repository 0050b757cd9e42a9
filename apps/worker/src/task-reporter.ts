import { randomUUID } from 'node:crypto';
import {
  type Changes,
  type FollowUp,
  type Job,
  type JobOutcome,
  type Measurements,
  type TaskState,
  type ChainOutcome,
  type StreamKey,
  type Workspace,
  abandonChainJob,
  abandonJob,
  abandonQuarantineRestore,
  completeQuarantineRestore,
  chainJobStreams,
  completeChainJob,
  completeJob,
  isChainJob,
  jobDisks,
  taskDecider,
  taskStreamId,
} from '@dolly/domain';
import type { EventMetadata } from '@dolly/contracts';
import type { RestoreOutcome } from './jobs/run-job';
import { randomIds } from '@dolly/platform';
import {
  type PostgresEventStore,
  type StreamSlot,
  decideInWorkspace,
  streamState,
  handleAcross,
  vmSlot,
  datastoreSlot,
  taskSlot,
} from '@dolly/event-store';

/** The streams a job's outcome touches besides its task: the VM, a clone's source, the datastore. */
function outcomeSlots(taskId: string, job: Job) {
  switch (job.kind) {
    case 'clone':
      return {
        task: taskSlot(taskId),
        vm: vmSlot(job.targetVmId),
        source: vmSlot(job.sourceVmId),
        datastore: datastoreSlot(job.targetDatastoreId),
      };
    case 'delete-vm':
      return {
        task: taskSlot(taskId),
        vm: vmSlot(job.vmId),
        datastore: datastoreSlot(job.datastoreId),
        ...(job.linkedTo ? { source: vmSlot(job.linkedTo) } : {}),
      };
    case 'restore-quarantined':
      return { task: taskSlot(taskId), datastore: datastoreSlot(job.datastoreId) };
    default:
      return {
        task: taskSlot(taskId),
        vm: vmSlot(jobDisks(job).vmId),
        datastore: datastoreSlot(jobDisks(job).datastoreId),
      };
  }
}

/**
 * What a worker writes to the store about a task: that its attempt started, and how it ended.
 * Every write is decided against the task's current state, so an attempt that a newer one
 * replaced (the worker lost its partition, or was thought dead) can no longer report anything.
 */
export class TaskReporter {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly workerId: string,
  ) {}

  private metadata(taskId: string, correlationId: string, command: string): EventMetadata {
    return {
      correlationId,
      causationId: null,
      actor: { id: this.workerId, role: 'worker' },
      taskId,
      command,
    };
  }

  async task(taskId: string): Promise<TaskState> {
    return streamState(this.store, taskDecider, taskStreamId(taskId));
  }

  /**
   * Starts the next attempt; null when the task ended meanwhile (cancelled before it started, done
   * by another). A running task's attempt is replaced (its message came again: the worker that
   * held it is thought gone) unless `onlyIfQueued`.
   */
  async start(
    taskId: string,
    correlationId: string,
    { onlyIfQueued = false } = {},
  ): Promise<{ attempt: number; job: Job } | null> {
    const outcome = await handleAcross(this.store, {
      slots: { task: taskSlot(taskId) },
      decide: (s) => {
        if (s.task.status !== 'queued' && (onlyIfQueued || s.task.status !== 'running')) return {};
        return {
          task: taskDecider.decide(
            { type: 'StartTask', data: { taskId, workerId: this.workerId } },
            s.task,
            undefined,
          ),
        };
      },
      metadata: this.metadata(taskId, correlationId, 'StartTask'),
      now: new Date().toISOString(),
    });
    const started = outcome.events.task?.find((e) => e.type === 'TaskStarted');
    if (!started) return null;
    const state = await this.task(taskId);
    if (state.status !== 'running') return null;
    return { attempt: (started.data as { attempt: number }).attempt, job: state.job };
  }

  async succeeded(
    taskId: string,
    correlationId: string,
    attempt: number,
    outcome: JobOutcome | ChainOutcome | RestoreOutcome,
    measured?: Measurements,
  ): Promise<void> {
    const task = await this.task(taskId);
    if (task.status === 'absent') return;
    if (isChainJob(task.job)) {
      return this.decideChain(taskId, correlationId, 'CompleteTask', task, (ws) =>
        completeChainJob(
          ws,
          { taskId, attempt, outcome: outcome as ChainOutcome, measured },
          randomIds,
        ),
      );
    }
    if (task.job.kind === 'restore-quarantined')
      return this.write(
        taskId,
        correlationId,
        'CompleteTask',
        outcomeSlots(taskId, task.job),
        (s) => completeQuarantineRestore({ attempt, workerId: this.workerId }, s),
      );
    // A clone to power on afterwards starts a power task; this worker holds the new disks, so it does it.
    const followUp: FollowUp | undefined =
      task.job.kind === 'clone' && task.job.powerOnAfter
        ? {
            taskId: randomUUID(),
            memoryImageId: randomUUID(),
            placement: { kind: 'worker', workerId: this.workerId },
          }
        : undefined;
    const slots = {
      ...outcomeSlots(taskId, task.job),
      ...(followUp ? { followUp: taskSlot(followUp.taskId) } : {}),
    };
    await this.write(taskId, correlationId, 'CompleteTask', slots, (s) =>
      completeJob(attempt, outcome as JobOutcome, s, followUp, measured),
    );
  }

  async ended(
    taskId: string,
    correlationId: string,
    attempt: number,
    ending: { cancelled: boolean; code: string; message: string },
  ): Promise<void> {
    const task = await this.task(taskId);
    if (task.status === 'absent') return;
    const command = ending.cancelled ? 'CancelTask' : 'FailTask';
    if (isChainJob(task.job)) {
      return this.decideChain(taskId, correlationId, command, task, (ws) =>
        abandonChainJob(ws, { taskId, attempt, ...ending }, randomIds),
      );
    }
    await this.write(
      taskId,
      correlationId,
      ending.cancelled ? 'CancelTask' : 'FailTask',
      outcomeSlots(taskId, task.job),
      (s) =>
        task.job.kind === 'restore-quarantined'
          ? abandonQuarantineRestore({ attempt, ...ending }, s)
          : abandonJob({ attempt, ...ending }, s),
    );
  }

  /**
   * The chain's jobs touch a pool and whatever it does next (new spares, its teardown): their
   * outcomes queue on the pool, or, for a fork made by hand, on its parent, which every fork writes.
   */
  private async decideChain(
    taskId: string,
    correlationId: string,
    command: string,
    task: Exclude<TaskState, { status: 'absent' }>,
    decide: (ws: Workspace) => void,
  ): Promise<void> {
    const streams = chainJobStreams(taskId, task.job);
    const parent: StreamKey | undefined =
      task.job.kind === 'fork' ? { kind: 'vm', id: task.job.parentVmId } : undefined;
    await decideInWorkspace(this.store, {
      streams,
      serializeOn: streams.find((key) => key.kind === 'pool') ?? parent,
      decide,
      ids: randomIds,
      metadata: this.metadata(taskId, correlationId, command),
      now: new Date().toISOString(),
    });
  }

  private async write<Slots extends Record<string, StreamSlot<unknown>>>(
    taskId: string,
    correlationId: string,
    command: string,
    slots: Slots,
    decide: (states: never) => Changes,
  ): Promise<void> {
    await handleAcross(this.store, {
      slots,
      decide: (states) => decide(states as never) as Partial<Record<keyof Slots, never[]>>,
      metadata: this.metadata(taskId, correlationId, command),
      now: new Date().toISOString(),
    });
  }
}
