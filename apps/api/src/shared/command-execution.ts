import { type EventMetadata, type StreamType } from '@dolly/contracts';
import type { CommandHandler, DecisionContext, HandledCommand } from '@dolly/event-store';
import type { Command as DomainCommand, Decider, Event } from '@dolly/domain';
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

  /** What every decision of this request shares: metadata, time, expected version, extra writes. */
  decision(target: CommandOutcome['target']) {
    return {
      metadata: this.metadata(),
      now: this.context.now,
      expectedVersion: this.context.expectedVersion,
      alsoInTransaction: this.alsoInTransaction
        ? (client: PoolClient, handled: HandledCommand<unknown>) =>
            this.alsoInTransaction!(client, this.outcome(target, handled))
        : undefined,
    };
  }

  outcome(target: CommandOutcome['target'], handled: HandledCommand<unknown>): CommandOutcome {
    return { target, streamVersion: handled.streamVersion, changed: handled.events.length > 0 };
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

/** Decides one command on one stream for a request: the whole of a command handler's work. */
export async function decideFor<State, C extends DomainCommand, E extends Event, Context>(
  commands: CommandHandler,
  execution: Execution,
  request: {
    decider: Decider<State, C, E, Context>;
    target: CommandOutcome['target'];
    streamId: string;
    command: C;
    context?: DecisionContext<Context>;
  },
): Promise<CommandOutcome> {
  const handled = await commands.handle({
    decider: request.decider,
    streamId: request.streamId,
    streamType: request.target.type,
    command: request.command,
    context: request.context,
    ...execution.decision(request.target),
  });
  return execution.outcome(request.target, handled);
}
