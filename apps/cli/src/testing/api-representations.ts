import type { TSchema } from '@sinclair/typebox';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import {
  DatastoreView,
  HostView,
  QuarantineView,
} from '../../../api/src/inventory/inventory.representation';
import { CommandAccepted } from '../../../api/src/shared/command-accepted.representation';
import { pageSchema } from '../../../api/src/shared/pagination';
import { Problem } from '../../../api/src/shared/problem.representation';
import { TaskView } from '../../../api/src/tasks/task.representation';
import { SnapshotsView, VmView } from '../../../api/src/vms/queries/vm.representation';

/**
 * The API's own representation schemas, by the route that answers with them: what the CLI's fake
 * API may answer. A fake that answers a shape the API does not (a field renamed, added or gone)
 * makes the CLI's specs prove nothing about the real API, so the fake checks every answer here.
 */

const ID = '[^/]+';
const READS: [method: string, path: RegExp, schema: TSchema][] = [
  ['GET', new RegExp(`^/vms$`), pageSchema(VmView)],
  ['GET', new RegExp(`^/vms/${ID}$`), VmView],
  ['GET', new RegExp(`^/vms/${ID}/snapshots$`), SnapshotsView],
  ['GET', new RegExp(`^/tasks$`), pageSchema(TaskView)],
  ['GET', new RegExp(`^/tasks/${ID}$`), TaskView],
  ['GET', new RegExp(`^/tasks/${ID}/stream$`), TaskView],
  ['GET', new RegExp(`^/datastores$`), pageSchema(DatastoreView)],
  ['GET', new RegExp(`^/datastores/${ID}$`), DatastoreView],
  ['GET', new RegExp(`^/datastores/${ID}/quarantine$`), QuarantineView],
  ['GET', new RegExp(`^/hosts$`), pageSchema(HostView)],
  ['GET', new RegExp(`^/hosts/${ID}$`), HostView],
];

/** The schema of what `method path` answers with `status` (a task stream: of each event's task). */
export function representationOf(method: string, path: string, status: number): TSchema {
  if (status >= 400) return Problem;
  if (method !== 'GET') return CommandAccepted;
  const route = path.split('?')[0];
  const read = READS.find(([m, pattern]) => m === method && pattern.test(route));
  if (!read) throw new Error(`No representation of the API is known for ${method} ${route}`);
  return read[2];
}

/**
 * The schema with every object closed (no property the API does not name): the API's schemas
 * leave objects open for clients' sake, but a fake that sends a field the API lacks must fail.
 */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (!schema || typeof schema !== 'object') return schema;
  const copy = Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [
      key,
      key === 'properties'
        ? Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, closed(v)]))
        : closed(value),
    ]),
  );
  if (copy.type === 'object' && copy.properties && !('additionalProperties' in copy))
    copy.additionalProperties = false;
  return copy;
}

// As the API validates requests (libs/platform's validation.ts): Ajv with its formats.
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validators = new Map<TSchema, ReturnType<typeof ajv.compile>>();

/** How `body` differs from `schema`: empty when the API could have answered it. */
export function violationsOf(schema: TSchema, body: unknown): string[] {
  let validate = validators.get(schema);
  if (!validate) {
    validate = ajv.compile(closed(schema) as object);
    validators.set(schema, validate);
  }
  if (validate(body)) return [];
  return (validate.errors ?? []).map((error) => {
    const extra = error.params.additionalProperty
      ? ` (${String(error.params.additionalProperty)})`
      : '';
    return `${error.instancePath || '/'} ${error.message ?? 'is not valid'}${extra}`;
  });
}
