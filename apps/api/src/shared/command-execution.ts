import { type EventMetadata, type StreamType } from '@dolly/contracts';
import {
  type DecidedAcross,
  type Decision,
  type PostgresEventStore,
  decideAcross,
} from '@dolly/event-store';
import { stream, streamIdOf, taskStreamId } from '@dolly/domain';
import { Command } from '@nestjs/cqrs';
import type { PoolClient } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { RequestContext } from './request-context';

/** The object a command changed, and its stream's version after the command. */
export interface CommandOutcome {
  target: { type: StreamType; id: string };
  streamVersion: number;
  /** False when the command decided nothing (renaming to the same name). */
  changed: boolean;
  /** True when a task was queued for a worker: the change happens when the task ends. */
  async?: boolean;
  /** What the decision answered besides the change (the desktop an entitlement handed out). */
  result?: unknown;
}

/**
 * One request's command on its way through the bus: its task, who asked, and writes that must
 * commit with its events (the idempotency record).
 */
export class Execution {
  readonly taskId = uuidv7();
  alsoInTransaction: ((client: PoolClient, outcome: CommandOutcome) => Promise<void>) | undefined;

  constructor(
    readonly context: RequestContext,
    readonly commandName: string,
  ) {}

  metadata(): EventMetadata {
    return {
      correlationId: this.context.correlationId,
      causationId: null,
      actor: { id: this.context.principal.id, role: this.context.principal.role },
      taskId: this.taskId,
      command: this.commandName,
    };
  }
}

/** Base of every command the API puts on the bus. */
export abstract class DollyCommand<Data> extends Command<CommandOutcome> {
  constructor(
    readonly execution: Execution,
    readonly data: Data,
  ) {
    super();
  }
}

/**
 * Decides a request's command: the decision across streams, made with the request's metadata and
 * time, the version its client named (If-Match) on the target, and the writes that commit with it
 * (the idempotency record); answered as what happened to the target.
 */
export async function decideFor<Result>(
  store: PostgresEventStore,
  execution: Execution,
  target: CommandOutcome['target'],
  decision: Decision<Result>,
  options: {
    /** Whether If-Match names a version of the target (not of one the command creates anew). */
    ifMatch?: boolean;
  } = {},
): Promise<CommandOutcome> {
  const targetStream = stream(target.type, target.id);
  const { expectedVersion } = execution.context;
  const outcomeOf = (decided: DecidedAcross<Result>): CommandOutcome => ({
    target,
    streamVersion: decided.versions.get(streamIdOf(targetStream)) ?? 0,
    changed: decided.changed,
    async: decided.events.has(taskStreamId(execution.taskId)),
    result: decided.result ?? undefined,
  });
  const decided = await decideAcross(store, {
    ...decision,
    metadata: execution.metadata(),
    now: execution.context.now,
    expected:
      expectedVersion === undefined || options.ifMatch === false
        ? undefined
        : { stream: targetStream, version: expectedVersion },
    alsoInTransaction: execution.alsoInTransaction
      ? (client, outcome) => execution.alsoInTransaction!(client, outcomeOf(outcome))
      : undefined,
  });
  return outcomeOf(decided);
}
