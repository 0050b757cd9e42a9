import {
  type Decision,
  PostgresEventStore,
  type SlotEvents,
  type SlotStates,
  type Slots,
  inSlots,
} from '@dolly/event-store';
import { Injectable } from '@nestjs/common';
import { type CommandOutcome, type Execution, decideFor } from '../shared/command-execution';

/**
 * The decision every VM use case makes: across the streams it touches (the VM, its host,
 * datastore and task), named, the VM its target.
 */
@Injectable()
export class VmDecisions {
  constructor(private readonly store: PostgresEventStore) {}

  decide<S extends Slots>(
    execution: Execution,
    vmId: string,
    request: { slots: S; decide: (states: SlotStates<S>) => SlotEvents<S> },
  ): Promise<CommandOutcome> {
    const target = { type: 'vm' as const, id: vmId };
    return decideFor(this.store, execution, target, inSlots(request.slots, request.decide));
  }

  /** A workflow of the domain deciding in a Workspace on the streams it names, about this VM. */
  decideIn(execution: Execution, vmId: string, decision: Decision<void>): Promise<CommandOutcome> {
    return decideFor(this.store, execution, { type: 'vm', id: vmId }, decision);
  }
}
