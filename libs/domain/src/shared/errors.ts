/**
 * Errors a decision can end in. Each carries a stable code (`'VM.POWERED_ON'`) that clients may
 * branch on, and a kind that says what it means at the edge; one exception filter maps kinds to
 * HTTP statuses, knowing no domain.
 */
export type DomainErrorKind =
  | 'validation' // the request is malformed: 400
  | 'not-found' // a named object does not exist: 404
  | 'illegal-state' // the object's state forbids it now: 409
  | 'rule-violation' // well-formed but breaks a domain rule (incompatible host...): 422
  | 'forbidden' // the caller may not do this: 403
  | 'concurrency'; // someone else changed the stream first: 409

export interface ErrorReason {
  /** Stable code of this one reason, e.g. 'HOST.HARDWARE_VERSION_TOO_OLD'. */
  code: string;
  /** What is wrong, for humans. */
  detail: string;
  /** JSON pointer into the request, when the reason is about one field. */
  pointer?: string;
}

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    readonly code: string,
    message: string,
    readonly reasons: readonly ErrorReason[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends DomainError {
  constructor(code: string, message: string, reasons: readonly ErrorReason[] = []) {
    super('validation', code, message, reasons);
  }
}

export class NotFoundError extends DomainError {
  constructor(code: string, message: string) {
    super('not-found', code, message);
  }
}

export class IllegalStateError extends DomainError {
  constructor(code: string, message: string, reasons: readonly ErrorReason[] = []) {
    super('illegal-state', code, message, reasons);
  }
}

export class RuleViolationError extends DomainError {
  constructor(code: string, message: string, reasons: readonly ErrorReason[]) {
    super('rule-violation', code, message, reasons);
  }
}

export class ForbiddenError extends DomainError {
  constructor(code: string, message: string) {
    super('forbidden', code, message);
  }
}

export class ConcurrencyError extends DomainError {
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number | undefined,
  ) {
    super(
      'concurrency',
      'STREAM.VERSION_CONFLICT',
      `Stream ${streamId} is not at version ${expectedVersion}` +
        (actualVersion === undefined ? '' : ` (it is at ${actualVersion})`),
    );
  }
}

/** Throws one error listing every reason, or nothing when there is none. */
export function refuseIfAny(code: string, message: string, reasons: readonly ErrorReason[]): void {
  if (reasons.length > 0) throw new RuleViolationError(code, message, reasons);
}
