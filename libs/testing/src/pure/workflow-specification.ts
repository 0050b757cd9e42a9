import {
  type DomainError,
  type Event,
  type IdSource,
  STREAM_FOLDS,
  type StreamKind,
  StreamNotLoadedError,
  Workspace,
  streamKey,
} from '@dolly/domain';
import {
  SpecificationFailure,
  describeValue,
  expectDomainError,
  sameJson,
} from './decider-specification';

/**
 * Specifications for workflows (decisions across streams) that read as given / when / then:
 *
 *   spec
 *     .given(stream('vm', vmId, [vmCreated]), stream('datastore', datastoreId, [registered]))
 *     .when((ws, ids) => requestDelete(ws, { vmId, taskId, placement, requester }))
 *     .then(stream('vm', vmId, [deleteRequested]), stream('task', taskId, [taskQueued]));
 *
 * `given` streams are folded with each stream's own evolve; any other stream the step reads is
 * empty, as the store reads a stream that has no events. `then` names every stream the step
 * wrote, with its events in order (streams in any order), and returns what the step returned.
 */
export interface StreamEvents {
  kind: StreamKind;
  id: string;
  events: readonly Event[];
}

/** The events of one stream. */
export const stream = (kind: StreamKind, id: string, events: readonly Event[]): StreamEvents => ({
  kind,
  id,
  events,
});

export interface WorkflowThenStage<Result> {
  then(...expected: StreamEvents[]): Result;
  thenNothingHappened(): Result;
  /** Passes when the step throws a DomainError with this code (and, if given, these reason codes). */
  thenThrows(code: string, reasonCodes?: readonly string[]): DomainError;
}

export interface WorkflowWhenStage {
  when<Result>(step: (ws: Workspace, ids: IdSource) => Result): WorkflowThenStage<Result>;
}

export interface WorkflowSpecification {
  given(...streams: StreamEvents[]): WorkflowWhenStage;
}

/** Ids in order, readable in failures: …-9000-000000000001, …-9000-000000000002, ... */
export function numberedIds(): IdSource {
  let n = 0;
  return {
    id: () => `0190f3a0-0000-7000-9000-${String(++n).padStart(12, '0')}`,
    macAddress: () => `02:00:00:00:00:${(n++ % 256).toString(16).padStart(2, '0')}`,
  };
}

const foldOf = (kind: StreamKind) =>
  STREAM_FOLDS[kind] as unknown as {
    evolve: (state: unknown, event: Event) => unknown;
    initialState: () => unknown;
  };

export function workflowSpecification(newIds: () => IdSource = numberedIds): WorkflowSpecification {
  return {
    given(...given) {
      return {
        when(step) {
          /** Decides as the store does: a stream read that was not given is empty; decide again. */
          const decide = () => {
            const loaded = new Map(
              given.map(({ kind, id, events }) => [
                streamKey(kind, id),
                {
                  key: { kind, id },
                  state: events.reduce(foldOf(kind).evolve, foldOf(kind).initialState()),
                },
              ]),
            );
            for (;;) {
              const ws = new Workspace(loaded.values());
              try {
                const result = step(ws, newIds());
                const written = new Map(
                  ws.changes().map(({ key, events }) => [streamKey(key.kind, key.id), events]),
                );
                return { result, written };
              } catch (error) {
                if (!(error instanceof StreamNotLoadedError)) throw error;
                const { kind, id } = error.key;
                loaded.set(streamKey(kind, id), {
                  key: { kind, id },
                  state: foldOf(kind).initialState(),
                });
              }
            }
          };
          const compare = (expected: StreamEvents[]) => {
            const { result, written } = decide();
            const wanted = new Map(expected.map((s) => [streamKey(s.kind, s.id), s.events]));
            const keys = [...new Set([...wanted.keys(), ...written.keys()])].sort();
            const differ = keys.filter(
              (key) => !sameJson(written.get(key) ?? [], wanted.get(key) ?? []),
            );
            if (differ.length > 0) {
              throw new SpecificationFailure(
                differ
                  .map(
                    (key) =>
                      `Stream ${key}: expected events:\n${describeValue(wanted.get(key) ?? [])}\n` +
                      `but got:\n${describeValue(written.get(key) ?? [])}`,
                  )
                  .join('\n\n'),
              );
            }
            return result;
          };
          return {
            then: (...expected) => compare(expected),
            thenNothingHappened: () => compare([]),
            thenThrows: (code, reasonCodes) =>
              expectDomainError(() => Object.fromEntries(decide().written), code, reasonCodes),
          };
        },
      };
    },
  };
}
