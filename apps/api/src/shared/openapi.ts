import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiExtraModels, ApiHeader, ApiResponse } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { PROBLEM_CONTENT_TYPE } from '@dolly/platform';
import type { TSchema } from '@sinclair/typebox';
import { CommandAccepted } from './command-accepted.representation';
import { Problem } from './problem.representation';

/** TypeBox schemas are JSON Schema already: the same object validates requests and documents them. */
export const asOpenApi = (schema: TSchema) => schema as unknown as SchemaObject;

const PROBLEM_MEANINGS: Record<number, string> = {
  400: 'Malformed request: every bad field is listed in errors.',
  401: 'No bearer token, or not a valid one.',
  403: "The token's role may not do this.",
  404: 'No such object.',
  409: 'The object is in a state that forbids this now, or changed since the If-Match version.',
  413: 'Body too large.',
  415: 'Body is not JSON.',
  422: 'Well-formed, but breaks a domain rule: every reason is listed in errors.',
  429: 'Past a limit (LIMIT.COMMAND_RATE, LIMIT.WAITS_PER_PRINCIPAL, LIMIT.WAITS): nothing was done; try again after Retry-After seconds.',
};

const RETRY_AFTER = {
  'Retry-After': {
    description: 'Seconds after which the request may succeed.',
    schema: { type: 'integer' as const, minimum: 1 },
  },
};

export function ApiProblems(...statuses: number[]) {
  return applyDecorators(
    ...[401, 403, ...statuses].map((status) =>
      ApiResponse({
        status,
        description: PROBLEM_MEANINGS[status] ?? 'Problem',
        ...(status === 429 ? { headers: RETRY_AFTER } : {}),
        content: { [PROBLEM_CONTENT_TYPE]: { schema: asOpenApi(Problem) } },
      }),
    ),
  );
}

export function ApiJsonBody(schema: TSchema) {
  return ApiBody({ schema: asOpenApi(schema) });
}

export function ApiOk(schema: TSchema, description = 'OK') {
  return ApiResponse({ status: 200, description, schema: asOpenApi(schema) });
}

/** Responses and headers every command endpoint shares. */
export function ApiCommand(options: { creates?: boolean } = {}) {
  return applyDecorators(
    ApiBearerAuth(),
    ApiExtraModels(),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description: 'Retrying with the same key returns the first answer and changes nothing.',
    }),
    ApiHeader({
      name: 'Prefer',
      required: false,
      description: 'wait=N: answer once the read models show the change (up to N seconds).',
    }),
    ApiResponse({
      status: 202,
      description: 'Recorded. Location points at the task.',
      schema: asOpenApi(CommandAccepted),
    }),
    ApiResponse({
      status: options.creates ? 201 : 200,
      description: 'With Prefer: wait, the change is projected; resource holds it.',
      schema: asOpenApi(CommandAccepted),
    }),
    ApiResponse({
      status: 429,
      description: PROBLEM_MEANINGS[429],
      headers: RETRY_AFTER,
      content: { [PROBLEM_CONTENT_TYPE]: { schema: asOpenApi(Problem) } },
    }),
  );
}
