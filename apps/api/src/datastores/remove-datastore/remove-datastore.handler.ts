import { datastoreDecider, stream } from '@dolly/domain';
import { PostgresEventStore, onStream } from '@dolly/event-store';
import { VmRow } from '@dolly/read-models';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { type CommandOutcome, DollyCommand, decideFor } from '../../shared/command-execution';

export class RemoveDatastoreCommand extends DollyCommand<{ datastoreId: string }> {}

/** Most VMs reach a datastore only through their disks (claims on its stream); the inventory names the rest. */
const VMS_NAMED = 100;

@CommandHandler(RemoveDatastoreCommand)
export class RemoveDatastoreHandler implements ICommandHandler<RemoveDatastoreCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    @InjectRepository(VmRow) private readonly vms: Repository<VmRow>,
  ) {}

  async execute({
    execution,
    data: { datastoreId },
  }: RemoveDatastoreCommand): Promise<CommandOutcome> {
    const onIt = await this.vms.find({
      select: { vmId: true },
      where: { datastoreId },
      order: { vmId: 'ASC' },
      take: VMS_NAMED,
    });
    return decideFor(
      this.store,
      execution,
      { type: 'datastore', id: datastoreId },
      onStream(stream('datastore', datastoreId), (datastore) =>
        datastoreDecider.decide(
          {
            type: 'RemoveDatastore',
            data: { datastoreId, vmIdsOnIt: onIt.map((vm) => vm.vmId) },
          },
          datastore,
          undefined,
        ),
      ),
    );
  }
}
