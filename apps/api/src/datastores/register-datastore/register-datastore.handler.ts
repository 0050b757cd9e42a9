import { Inject } from '@nestjs/common';
import { type DollyConfig } from '@dolly/config';
import { gatherFolderFacts } from '@dolly/disk-engine';
import { type StreamKey, registerDatastore, stream } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { DOLLY_CONFIG } from '@dolly/platform';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { v7 as uuidv7 } from 'uuid';
import { type CommandOutcome, DollyCommand, decideFor } from '../../shared/command-execution';

export interface DatastoreRegistration {
  name: string;
  capacityBytes: number;
  folder: string;
  overcommitRatio: number;
  /** Take over the Dolly datastore the folder holds, under its own id. */
  adopt: boolean;
}

export class RegisterDatastoreCommand extends DollyCommand<DatastoreRegistration> {}

/** A lock's name, never a stream: registrations wait for each other on it. */
const REGISTRATIONS: StreamKey = { kind: 'datastore', id: 'registrations' };

/**
 * Looks at the folder (where it really is, what it holds) and decides against every datastore of
 * the inventory, listed in the store under the registrations' lock: two requests can never claim
 * overlapping folders, however they interleave.
 */
@CommandHandler(RegisterDatastoreCommand)
export class RegisterDatastoreHandler implements ICommandHandler<RegisterDatastoreCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
  ) {}

  async execute({ execution, data }: RegisterDatastoreCommand): Promise<CommandOutcome> {
    const { adopt, ...registration } = data;
    const folderFacts = await gatherFolderFacts(data.folder, this.config.datastoreRoots);
    const { contents } = folderFacts;
    const datastoreId = adopt && contents.kind === 'datastore' ? contents.datastoreId : uuidv7();
    return decideFor(
      this.store,
      execution,
      { type: 'datastore', id: datastoreId },
      {
        streams: [stream('datastore', datastoreId)],
        serializeOn: REGISTRATIONS,
        discover: (client) => this.store.streamsOfKind('datastore', client),
        decide: (ws) => {
          registerDatastore(ws, {
            type: 'RegisterDatastore',
            data: { ...registration, datastoreId, adopt, folderFacts },
          });
        },
      },
      // A registration makes its datastore (or takes one over): If-Match names no version of it.
      { ifMatch: false },
    );
  }
}
