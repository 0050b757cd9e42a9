import { UnavailableError, isDatabaseUnavailable, toProblem } from './problem';

/** Errors as node-postgres and TypeORM throw them while PostgreSQL restarts. */
const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
  code: 'ECONNREFUSED',
});
const shutDown = Object.assign(new Error('terminating connection due to administrator command'), {
  code: '57P01',
});
const startingUp = Object.assign(new Error('the database system is starting up'), {
  code: '57P03',
});
const terminated = new Error('Connection terminated unexpectedly');
const wrapped = Object.assign(new Error('Query failed'), { driverError: shutDown });

describe('a request that failed because PostgreSQL is away', () => {
  it.each([
    ['connection refused', refused],
    ['session ended by a shutdown', shutDown],
    ['server starting up', startingUp],
    ['connection terminated', terminated],
    ['wrapped by TypeORM', wrapped],
    ['as a cause', new Error('outer', { cause: refused })],
  ])('answers 503 SERVICE.DATABASE_UNAVAILABLE (%s)', (_, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(toProblem(error)).toMatchObject({ status: 503, code: 'SERVICE.DATABASE_UNAVAILABLE' });
  });

  it('is told apart from a bug: anything else stays 500 INTERNAL', () => {
    const bug = Object.assign(new Error('column "x" does not exist'), { code: '42703' });
    expect(isDatabaseUnavailable(bug)).toBe(false);
    expect(toProblem(bug)).toMatchObject({ status: 500, code: 'INTERNAL' });
    expect(toProblem(new TypeError('undefined is not a function'))).toMatchObject({ status: 500 });
  });
});

it('answers 503 with the code an UnavailableError names (a part other than PostgreSQL away)', () => {
  expect(
    toProblem(new UnavailableError('SERVICE.BROKER_UNAVAILABLE', 'Kafka cannot be reached')),
  ).toMatchObject({ status: 503, code: 'SERVICE.BROKER_UNAVAILABLE' });
});
