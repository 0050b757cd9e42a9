/**
 * The transfers this worker's running attempts opened: an import waiting for the API's upload
 * (PUT), an export waiting for its download (GET). One per task, taken once: the API presents the
 * one-time token whose SHA-256 the job holds, and the request it makes is handed to the attempt,
 * which reads or writes the bytes and answers it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable } from '@nestjs/common';
import { IllegalStateError } from '@dolly/domain';
import { discardRest } from '@dolly/platform';
import { answerProblem } from './transfer-answers';

/** Upload: the API sends a package (import); download: the API receives one (export). */
export type TransferDirection = 'upload' | 'download';

/** The API's request, handed to the attempt that opened the transfer. */
export interface TransferExchange {
  request: IncomingMessage;
  response: ServerResponse;
}

/** Why the controller may not hand a request over; the status it answers. */
export type ClaimRefusal =
  | { status: 404; code: 'TRANSFER.NOT_OPEN'; detail: string }
  | { status: 401; code: 'TRANSFER.BAD_TOKEN'; detail: string }
  | { status: 409; code: 'TRANSFER.ALREADY_TAKEN'; detail: string };

/** The codes a task fails with when the API never came for its transfer. */
const TIMEOUT_CODES: Record<TransferDirection, string> = {
  upload: 'IMPORT.UPLOAD_TIMEOUT',
  download: 'EXPORT.DOWNLOAD_TIMEOUT',
};

interface Entry {
  direction: TransferDirection;
  tokenDigest: Buffer;
  taken: boolean;
  hand(exchange: TransferExchange): void;
}

/** A transfer an attempt opened: wait for the API's request, close it when the attempt ends. */
export interface OpenedTransfer {
  /**
   * The API's request, once it came with the right token; rejects after `waitMs` (the task fails
   * with IMPORT.UPLOAD_TIMEOUT or EXPORT.DOWNLOAD_TIMEOUT) or when the signal aborts (its reason).
   */
  exchange(waitMs: number, signal: AbortSignal): Promise<TransferExchange>;
  /** The attempt ended: the transfer is forgotten (a later request finds nothing open: 404). */
  close(): void;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

@Injectable()
export class TransferRegistry {
  private readonly open = new Map<string, Entry>();

  /**
   * Opens the transfer of a task's attempt. A transfer the same task's earlier attempt left open
   * is replaced: only the newest attempt may take the API's request.
   */
  openFor(taskId: string, direction: TransferDirection, tokenSha256: string): OpenedTransfer {
    let received: TransferExchange | undefined;
    let consumed = false;
    let waiter: ((exchange: TransferExchange) => void) | undefined;
    const entry: Entry = {
      direction,
      tokenDigest: Buffer.from(tokenSha256, 'hex'),
      taken: false,
      hand: (exchange) => {
        received = exchange;
        waiter?.(exchange);
      },
    };
    this.open.set(taskId, entry);
    return {
      exchange: (waitMs, signal) =>
        new Promise<TransferExchange>((resolve, reject) => {
          if (received) {
            consumed = true;
            return resolve(received);
          }
          if (signal.aborted) return reject(signal.reason as Error);
          const stop = () => {
            clearTimeout(timer);
            signal.removeEventListener('abort', onAbort);
            waiter = undefined;
          };
          const onAbort = () => {
            stop();
            entry.taken = true;
            reject(signal.reason as Error);
          };
          const timer = setTimeout(() => {
            stop();
            // The attempt gives up: a request coming later finds the transfer taken.
            entry.taken = true;
            reject(
              new IllegalStateError(
                TIMEOUT_CODES[direction],
                `The API did not come for the ${direction} within ${waitMs} ms`,
              ),
            );
          }, waitMs);
          signal.addEventListener('abort', onAbort, { once: true });
          waiter = (exchange) => {
            stop();
            consumed = true;
            resolve(exchange);
          };
        }),
      close: () => {
        if (this.open.get(taskId) === entry) this.open.delete(taskId);
        entry.taken = true;
        // A request that came but was never taken up (the attempt failed first) is answered.
        if (received && !consumed) {
          answerProblem(received.response, 410, 'TRANSFER.CLOSED', 'The transfer closed unused');
          discardRest(received.request);
        }
      },
    };
  }

  /**
   * Hands the API's request to the attempt waiting for it, or says why not. The token is checked
   * before anything else of the transfer is said (its direction, whether it was taken), and
   * compared by digest in constant time.
   */
  claim(
    taskId: string,
    direction: TransferDirection,
    authorization: string | undefined,
    exchange: TransferExchange,
  ): ClaimRefusal | null {
    const entry = this.open.get(taskId);
    if (!entry)
      return { status: 404, code: 'TRANSFER.NOT_OPEN', detail: 'No transfer is open here' };
    const token = /^Bearer ([A-Za-z0-9_.~+/=-]{1,512})$/.exec(authorization ?? '')?.[1];
    const presented = sha256(token ?? '');
    const matches =
      entry.tokenDigest.length === presented.length &&
      timingSafeEqual(entry.tokenDigest, presented);
    if (!token || !matches)
      return { status: 401, code: 'TRANSFER.BAD_TOKEN', detail: 'The transfer token is not valid' };
    if (entry.taken || entry.direction !== direction)
      return {
        status: 409,
        code: 'TRANSFER.ALREADY_TAKEN',
        detail: 'This transfer was taken already, or is not this method’s',
      };
    entry.taken = true;
    entry.hand(exchange);
    return null;
  }
}
