import { type Command, type Decider, DomainError, type Event } from '@dolly/domain';

/**
 * Specifications for deciders that read as given / when / then:
 *
 *   spec.given([vmCreated]).when(powerOn).then([vmPoweredOn]);
 *   spec.given([vmCreated, poweredOn]).when(deleteVm).thenThrows('VM.NOT_POWERED_OFF');
 *
 * `given` events are folded with the decider's own `evolve`, so each spec also exercises evolve.
 */
export interface ThenStage<E> {
  then(expected: readonly E[]): void;
  thenNothingHappened(): void;
  /** Passes when deciding throws a DomainError with this code (and, if given, these reason codes). */
  thenThrows(code: string, reasonCodes?: readonly string[]): DomainError;
}

export interface WhenStage<C, E> {
  when(command: C): ThenStage<E>;
}

export interface DeciderSpecification<C, E, Context> {
  given(events: readonly E[], context?: Context): WhenStage<C, E>;
}

export class SpecificationFailure extends Error {
  override name = 'SpecificationFailure';
}

export function describeValue(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** Key order must not decide equality: events travel as JSON, where it carries no meaning. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

export function deciderSpecification<State, C extends Command, E extends Event, Context>(
  decider: Decider<State, C, E, Context>,
  defaultContext?: Context,
): DeciderSpecification<C, E, Context> {
  return {
    given(givenEvents, context = defaultContext) {
      return {
        when(command) {
          const decide = (): E[] => {
            const state = givenEvents.reduce(decider.evolve, decider.initialState());
            const events = decider.decide(command, state, context as Context);
            // Deciding must leave a state that evolve accepts: fold the new events too.
            events.reduce(decider.evolve, state);
            return events;
          };
          return {
            then(expected) {
              const actual = decide();
              if (!sameJson(actual, expected)) {
                throw new SpecificationFailure(
                  `Expected events:\n${describeValue(expected)}\nbut got:\n${describeValue(actual)}`,
                );
              }
            },
            thenNothingHappened() {
              const actual = decide();
              if (actual.length > 0) {
                throw new SpecificationFailure(
                  `Expected no events but got:\n${describeValue(actual)}`,
                );
              }
            },
            thenThrows: (code, reasonCodes) => expectDomainError(decide, code, reasonCodes),
          };
        },
      };
    },
  };
}

/** Passes when deciding throws a DomainError with this code (and, if given, these reason codes). */
export function expectDomainError(
  decide: () => unknown,
  code: string,
  reasonCodes?: readonly string[],
): DomainError {
  let outcome: unknown;
  try {
    outcome = decide();
  } catch (error) {
    if (!(error instanceof DomainError)) {
      throw new SpecificationFailure(`Expected DomainError ${code} but got ${String(error)}`);
    }
    if (error.code !== code) {
      throw new SpecificationFailure(
        `Expected error ${code} but got ${error.code}: ${error.message}`,
      );
    }
    if (reasonCodes) {
      const actualReasons = error.reasons.map((reason) => reason.code).sort();
      if (!sameJson(actualReasons, [...reasonCodes].sort())) {
        throw new SpecificationFailure(
          `Expected reasons ${describeValue(reasonCodes)} but got ${describeValue(actualReasons)}`,
        );
      }
    }
    return error;
  }
  throw new SpecificationFailure(
    `Expected error ${code} but it was accepted with:\n${describeValue(outcome)}`,
  );
}
