/**
 * A decision that lost to a concurrent one (and whose client named no expected version) is made
 * again on fresh state. Many workers and requests race on one hot stream (a datastore's space, a
 * pool), so losers wait a little, at random, before trying again: without it they all reread at
 * once and lose again together.
 */
export const CONFLICT_RETRY_ATTEMPTS = 20;

export function backOffAfterConflict(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
}
