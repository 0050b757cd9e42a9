import { type ArgumentMetadata, Injectable, type PipeTransform } from '@nestjs/common';
import { type ErrorReason, ValidationError } from '@dolly/domain';
import type { Static, TSchema } from '@sinclair/typebox';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

function makeAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes, useDefaults: true });
  addFormats(ajv);
  return ajv;
}

// Bodies are JSON and must be typed right; query strings are text, so numbers there are coerced.
const bodyAjv = makeAjv(false);
const queryAjv = makeAjv(true);
const compiled = new WeakMap<TSchema, { body?: ValidateFunction; query?: ValidateFunction }>();

function validatorFor(schema: TSchema, source: 'body' | 'query'): ValidateFunction {
  const entry = compiled.get(schema) ?? {};
  if (!entry[source]) {
    entry[source] = (source === 'body' ? bodyAjv : queryAjv).compile(schema);
    compiled.set(schema, entry);
  }
  return entry[source]!;
}

function reasonOf(error: ErrorObject, root: string): ErrorReason {
  const at = `${root}${error.instancePath}`;
  switch (error.keyword) {
    case 'required':
      return {
        code: 'REQUEST.REQUIRED',
        pointer: `${at}/${error.params.missingProperty}`,
        detail: 'is required',
      };
    case 'additionalProperties':
      return {
        code: 'REQUEST.UNKNOWN_FIELD',
        pointer: `${at}/${error.params.additionalProperty}`,
        detail: 'is not a field of this request',
      };
    case 'enum':
      return {
        code: 'REQUEST.NOT_ALLOWED',
        pointer: at,
        detail: `must be one of ${(error.params.allowedValues as string[]).join(', ')}`,
      };
    default:
      return {
        code: `REQUEST.${error.keyword.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`,
        pointer: at,
        detail: error.message ?? 'is not valid',
      };
  }
}

/** Checks a value against a schema, reporting every violation (not just the first). */
export function validateRequest<S extends TSchema>(
  schema: S,
  value: unknown,
  source: 'body' | 'query' | 'path' = 'body',
  root = source === 'body' ? '' : `/${source}`,
): Static<S> {
  const validate = validatorFor(schema, source === 'body' ? 'body' : 'query');
  if (validate(value)) return value as Static<S>;
  const reasons = (validate.errors ?? []).map((error) => reasonOf(error, root));
  const unique = reasons.filter(
    (r, i) => reasons.findIndex((o) => o.pointer === r.pointer && o.detail === r.detail) === i,
  );
  throw new ValidationError(
    'REQUEST.INVALID',
    `The request has ${unique.length} problem${unique.length === 1 ? '' : 's'}`,
    unique,
  );
}

/** Validates a request body or query against a TypeBox schema: `@Body(new Validate(CreateVmRequest))`. */
@Injectable()
export class Validate<S extends TSchema> implements PipeTransform<unknown, Static<S>> {
  constructor(private readonly schema: S) {}

  transform(value: unknown, metadata: ArgumentMetadata): Static<S> {
    if (metadata.type === 'query')
      return validateRequest(this.schema, { ...(value as object) }, 'query');
    if (metadata.type === 'param')
      return validateRequest(this.schema, value, 'path', `/path/${metadata.data ?? ''}`);
    return validateRequest(this.schema, value, 'body');
  }
}
