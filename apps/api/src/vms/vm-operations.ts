import { type Changes, type VmState } from '@dolly/domain';
import {
  PostgresEventStore,
  type HandledAcross,
  type StreamSlot,
  handleAcross,
} from '@dolly/event-store';
import { Injectable } from '@nestjs/common';
import { type CommandOutcome, type Execution } from '../shared/command-execution';

/**
 * The decision every VM use case makes: across the streams it touches (the VM, its host,
 * datastore and task), with the request's metadata, expected version and idempotency record.
 */
@Injectable()
export class VmDecisions {
  constructor(private readonly store: PostgresEventStore) {}

  async decide<Slots extends Record<string, StreamSlot<unknown>> & { vm: StreamSlot<VmState> }>(
    execution: Execution,
    vmId: string,
    request: {
      slots: Slots;
      decide: (states: {
        [K in keyof Slots]: Slots[K] extends StreamSlot<infer S> ? S : never;
      }) => Changes;
    },
  ): Promise<CommandOutcome> {
    const target = { type: 'vm' as const, id: vmId };
    const decision = execution.decision(target);
    const outcomeOf = (handled: HandledAcross<Slots>): CommandOutcome => ({
      target,
      streamVersion: handled.versions.vm,
      changed: Object.values(handled.events).some((events) => (events?.length ?? 0) > 0),
      async: (handled.events.task?.length ?? 0) > 0,
    });
    const handled = await handleAcross(this.store, {
      slots: request.slots,
      decide: (states) => request.decide(states) as Partial<Record<keyof Slots, never[]>>,
      metadata: decision.metadata,
      now: decision.now,
      expected:
        decision.expectedVersion === undefined
          ? undefined
          : { slot: 'vm', version: decision.expectedVersion },
      alsoInTransaction: execution.alsoInTransaction
        ? (client, outcome) => execution.alsoInTransaction!(client, outcomeOf(outcome))
        : undefined,
    });
    return outcomeOf(handled);
  }
}
