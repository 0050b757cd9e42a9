import { doublingPause } from './doubling-pause';

describe('doublingPause', () => {
  it('starts at the first pause and doubles', () => {
    expect([0, 1, 2, 3].map((attempt) => doublingPause(attempt, 100, 10_000))).toEqual([
      100, 200, 400, 800,
    ]);
  });

  it('never exceeds the longest, however many failures', () => {
    expect(doublingPause(7, 100, 10_000)).toBe(10_000);
    expect(doublingPause(1_000_000, 100, 10_000)).toBe(10_000);
  });
});
