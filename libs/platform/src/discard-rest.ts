import type { IncomingMessage } from 'node:http';

/**
 * Bytes of a body read and thrown away after an early answer (a refusal): a client still sending
 * when the connection closed would meet EPIPE or a reset before it read the answer, and never
 * learn why. A sender that goes on past this has its connection closed all the same.
 */
export const DISCARDED_BODY_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Reads what is left of a request body answered early and drops it, up to the limit; past it the
 * request is destroyed. `chunks`: the body's iterator, when whoever read the start took one.
 */
export function discardRest(request: IncomingMessage, chunks?: AsyncIterator<Buffer>): void {
  if (request.complete || request.destroyed) return;
  const rest = chunks ?? (request[Symbol.asyncIterator]() as AsyncIterator<Buffer>);
  void (async () => {
    let dropped = 0;
    try {
      for (let next = await rest.next(); !next.done; next = await rest.next()) {
        dropped += next.value.length;
        if (dropped > DISCARDED_BODY_LIMIT_BYTES) return request.destroy();
      }
    } catch {
      // A body that breaks off is as good as read: nothing is left to drop.
    }
  })();
}
