import type { StreamType } from '@dolly/contracts';
import { type Decider, type Event, streamIdOf } from '@dolly/domain';
import { asDomainEvents } from './decide-across';
import type { PostgresEventStore } from './event-store';

/**
 * Every stream of one type, folded from the store itself (not from a projector's table, which may
 * lag or be down), and kept current by reading only what each stream gained since the last look:
 * two indexed queries per look, the streams' starts then their new events.
 */
export class FoldedStreamsOfType<State, E extends Event> {
  private readonly folded = new Map<string, { version: number; state: State }>();

  constructor(
    private readonly store: PostgresEventStore,
    private readonly streamType: StreamType,
    private readonly fold: Pick<Decider<State, never, E, unknown>, 'evolve' | 'initialState'>,
  ) {}

  /** Each stream's state now, by stream id. */
  async current(): Promise<ReadonlyMap<string, State>> {
    const streamIds = (await this.store.streamsOfKind(this.streamType)).map(streamIdOf);
    const newer = await this.store.readStreamsAfter(
      new Map(streamIds.map((streamId) => [streamId, this.folded.get(streamId)?.version ?? 0])),
    );
    const states = new Map<string, State>();
    for (const streamId of streamIds) {
      const known = this.folded.get(streamId);
      const events = asDomainEvents<E>(newer.get(streamId));
      const entry =
        events.length === 0 && known
          ? known
          : {
              version: (known?.version ?? 0) + events.length,
              state: events.reduce(
                this.fold.evolve,
                known ? known.state : this.fold.initialState(),
              ),
            };
      this.folded.set(streamId, entry);
      states.set(streamId, entry.state);
    }
    return states;
  }
}
