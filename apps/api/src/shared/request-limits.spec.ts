import { TokenBucket } from './request-limits';

describe('a principal’s command token bucket', () => {
  it('lets a burst through at once, then refuses and says how long until the next token', () => {
    const bucket = new TokenBucket(2, 3, 0);

    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([0, 0, 0]);
    expect(bucket.take(0)).toBe(1);
  });

  it('refills at its rate, never above its burst', () => {
    const bucket = new TokenBucket(2, 3, 0);
    for (let i = 0; i < 3; i++) bucket.take(0);

    expect(bucket.take(500)).toBe(0);
    expect(bucket.take(500)).toBe(1);
    expect([0, 0, 0, 1].map(() => bucket.take(60_000))).toEqual([0, 0, 0, 1]);
  });

  it('asks a slow rate to wait whole seconds until a token is there', () => {
    const bucket = new TokenBucket(0.25, 1, 0);
    bucket.take(0);

    expect(bucket.take(0)).toBe(4);
    expect(bucket.take(2000)).toBe(2);
  });
});
