/**
 * A member's bytes as handed to a consumer that may stop reading early (a `for await` with a
 * break, an error): leaving does not close the source, which still has to read the rest of the
 * member to reach the next one. The source then calls `drain`.
 */
export class MemberContent implements AsyncIterable<Buffer> {
  private readonly source: AsyncIterator<Buffer>;
  private handedOut = false;
  private ended = false;
  private failure: { error: unknown } | null = null;

  constructor(source: AsyncIterable<Buffer>) {
    this.source = source[Symbol.asyncIterator]();
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.handedOut) throw new Error('a member content is read once');
    this.handedOut = true;
    return {
      next: () => this.next(),
      return: async () => ({ done: true, value: undefined }),
    };
  }

  /** Reads what is left; throws the error the source failed with, even if a consumer saw it first. */
  async drain(): Promise<void> {
    while (!(await this.next()).done);
  }

  private async next(): Promise<IteratorResult<Buffer>> {
    if (this.failure) throw this.failure.error;
    if (this.ended) return { done: true, value: undefined };
    try {
      const result = await this.source.next();
      if (result.done) this.ended = true;
      return result;
    } catch (error: unknown) {
      this.failure = { error };
      throw error;
    }
  }
}
