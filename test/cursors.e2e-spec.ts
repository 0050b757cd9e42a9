// A cursor is opaque but comes from the client: whatever arrives in `?cursor=` must be answered
// 400 problem+json naming the field, never reach the database as a key it cannot read (500).
import { randomUUID } from 'node:crypto';
import { DollyStack } from '@dolly/testing';

let stack: DollyStack;

beforeAll(async () => {
  stack = await DollyStack.start(['api']);
}, 120_000);
afterAll(() => stack?.stop());

type Problem = {
  status: number;
  code: string;
  errors?: { pointer: string; code: string; detail: string }[];
};

const encoded = (json: string) => Buffer.from(json).toString('base64url');

/** Every list that pages with a cursor. */
const LISTS = [
  '/vms',
  '/tasks',
  '/hosts',
  '/datastores',
  '/pools',
  `/vms/${randomUUID()}/audit-log`,
];

const MALFORMED: [string, string][] = [
  ['not base64', '%%%not*base64%%%'],
  ['base64 of no JSON', encoded('not json')],
  ['half a JSON object', encoded('{"after":')],
  ['JSON but not an object', encoded('"after"')],
  ['null', encoded('null')],
  ['an array', encoded('["x"]')],
  ['no key', encoded('{}')],
  ['a key of the wrong type (the reported one)', 'eyJhZnRlciI6IngifQ'],
  ['a number key', encoded('{"after":5}')],
  ['a null key', encoded('{"after":null}')],
  ['an object key', encoded('{"after":{"id":"x"}}')],
  ['a negative key', encoded('{"after":"-1"}')],
  ['a huge key', encoded(`{"after":"${'9'.repeat(40)}"}`)],
  ['a fractional key', encoded('{"after":"1.5"}')],
  ['an exponent key', encoded('{"after":"1e400"}')],
  ['an empty key', encoded('{"after":""}')],
  ['a key with SQL in it', encoded(`{"after":"' OR 1=1 --"}`)],
];

describe.each(LISTS)('GET %s', (list) => {
  it.each(MALFORMED)('answers 400 naming the cursor to %s', async (_case, cursor) => {
    const answer = await stack.request<Problem>('GET', `${list}?cursor=${cursor}`);
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(answer.body.code).toBe('REQUEST.BAD_CURSOR');
    expect(answer.body.errors?.map((error) => error.pointer)).toEqual(['/query/cursor']);
  });

  it('answers 400 naming the cursor to a huge one (the schema refuses it: longer than 200)', async () => {
    const answer = await stack.request<Problem>('GET', `${list}?cursor=${'A'.repeat(10_000)}`);
    expect([answer.status, answer.body.code]).toEqual([400, 'REQUEST.INVALID']);
    expect(answer.body.errors?.map(({ pointer, code }) => [pointer, code])).toEqual([
      ['/query/cursor', 'REQUEST.MAX_LENGTH'],
    ]);
  });

  it('still takes a cursor it issued, and no cursor at all', async () => {
    const first = await stack.request<{ nextCursor: string | null }>('GET', `${list}?limit=1`);
    expect(first.status).toBe(200);
    // An empty read model has no next page: a cursor for a key that no longer exists is still good.
    const key = list.endsWith('audit-log') ? '3' : randomUUID();
    const issued = encoded(JSON.stringify({ after: key }));
    expect((await stack.request('GET', `${list}?cursor=${issued}`)).status).toBe(200);
  });
});
