import { randomUUID } from 'node:crypto';
import {
  type FollowUp,
  type Job,
  type JobOutcome,
  type Measurements,
  type TaskState,
  type ChainOutcome,
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
  stream,
  taskDecider,
  taskStreamId,
} from '@dolly/domain';
import type { EventMetadata } from '@dolly/contracts';
import type { RestoreOutcome } from './jobs/run-job';
import { randomIds } from '@dolly/platform';
import {
  type Decision,
  type PostgresEventStore,
  type SlotEvents,
  type SlotStates,
  type Slots,
  decideAcross,
  inSlots,
  onStream,
  streamState,
} from '@dolly/event-store';

/** The streams a VM job's outcome touches: its task, the VM, a clone's source, the datastore. */
function outcomeSlots(taskId: string, job: Exclude<Job, { kind: 'restore-quarantined' }>) {
  const task = stream('task', taskId);
  switch (job.kind) {
    case 'clone':
      return {
        task,
        vm: stream('vm', job.targetVmId),
        source: stream('vm', job.sourceVmId),
        datastore: stream('datastore', job.targetDatastoreId),
      };
    case 'delete-vm':
      return {
        task,
        vm: stream('vm', job.vmId),
        datastore: stream('datastore', job.datastoreId),
        source: job.linkedTo ? stream('vm', job.linkedTo) : undefined,
      };
    default:
      return {
        task,
        vm: stream('vm', jobDisks(job).vmId),
        datastore: stream('datastore', jobDisks(job).datastoreId),
      };
  }
}

/** The streams a restore's outcome touches: its task and the datastore. */
const restoreSlots = (taskId: string, datastoreId: string) => ({
  task: stream('task', taskId),
  datastore: stream('datastore', datastoreId),
});

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
    const outcome = await this.decide(
      taskId,
      correlationId,
      'StartTask',
      onStream(stream('task', taskId), (task) => {
        if (task.status !== 'queued' && (onlyIfQueued || task.status !== 'running')) return [];
        return taskDecider.decide(
          { type: 'StartTask', data: { taskId, workerId: this.workerId } },
          task,
          undefined,
        );
      }),
    );
    const started = outcome.events.get(taskStreamId(taskId))?.find((e) => e.type === 'TaskStarted');
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
    const { job } = task;
    if (job.kind === 'restore-quarantined')
      return this.write(
        taskId,
        correlationId,
        'CompleteTask',
        restoreSlots(taskId, job.datastoreId),
        (s) => completeQuarantineRestore({ attempt, workerId: this.workerId }, s),
      );
    // A clone to power on afterwards starts a power task; this worker holds the new disks, so it does it.
    const followUp: FollowUp | undefined =
      job.kind === 'clone' && job.powerOnAfter
        ? {
            taskId: randomUUID(),
            memoryImageId: randomUUID(),
            placement: { kind: 'worker', workerId: this.workerId },
          }
        : undefined;
    const slots = {
      ...outcomeSlots(taskId, job),
      followUp: followUp ? stream('task', followUp.taskId) : undefined,
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
    const { job } = task;
    if (job.kind === 'restore-quarantined')
      return this.write(
        taskId,
        correlationId,
        command,
        restoreSlots(taskId, job.datastoreId),
        (s) => abandonQuarantineRestore({ attempt, ...ending }, s),
      );
    await this.write(taskId, correlationId, command, outcomeSlots(taskId, job), (s) =>
      abandonJob({ attempt, ...ending }, s),
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
    const parent = task.job.kind === 'fork' ? stream('vm', task.job.parentVmId) : undefined;
    await this.decide(taskId, correlationId, command, {
      streams,
      serializeOn: streams.find((key) => key.kind === 'pool') ?? parent,
      decide,
    });
  }

  /** An outcome on the streams it touches, named. */
  private async write<S extends Slots>(
    taskId: string,
    correlationId: string,
    command: string,
    slots: S,
    decide: (states: SlotStates<S>) => SlotEvents<S>,
  ): Promise<void> {
    await this.decide(taskId, correlationId, command, inSlots(slots, decide));
  }

  private decide<Result>(
    taskId: string,
    correlationId: string,
    command: string,
    decision: Decision<Result>,
  ) {
    return decideAcross(this.store, {
      ...decision,
      metadata: this.metadata(taskId, correlationId, command),
      now: new Date().toISOString(),
    });
  }
}
