/**
 * The transfer of one running attempt, as its job sees it: open it here, tell the API where
 * (OpenTransfer on the task's stream), and wait for the API's request.
 */
import {
  type OpenedTransfer,
  type TransferDirection,
  type TransferExchange,
  type TransferRegistry,
} from './transfer-registry';

/** The API's request, handed to the job; `close` once the job answered it (or gave up). */
export interface OpenedExchange {
  exchange: TransferExchange;
  close(): void;
}

export interface AttemptTransfer {
  /**
   * Opens the attempt's transfer and gives the API's request once it came with the token whose
   * SHA-256 is `tokenSha256`. Fails after the wait (IMPORT.UPLOAD_TIMEOUT,
   * EXPORT.DOWNLOAD_TIMEOUT) or when the attempt is stopped.
   */
  open(direction: TransferDirection, tokenSha256: string): Promise<OpenedExchange>;
}

export interface AttemptTransferOptions {
  taskId: string;
  /** How long the API has to come; DOLLY_TRANSFER_WAIT_MS. */
  waitMs: number;
  signal: AbortSignal;
  /** Records that the transfer is open, and where (decides OpenTransfer for this attempt). */
  announce(): Promise<void>;
}

export function attemptTransfer(
  registry: TransferRegistry,
  options: AttemptTransferOptions,
): AttemptTransfer {
  return {
    async open(direction, tokenSha256) {
      // Open before the API is told, so its request cannot come before the transfer is here.
      const opened: OpenedTransfer = registry.openFor(options.taskId, direction, tokenSha256);
      try {
        await options.announce();
        // A cancel while the bytes move stops them through the job's reads and writes, which
        // take the same signal; the job then answers the request.
        return {
          exchange: await opened.exchange(options.waitMs, options.signal),
          close: opened.close,
        };
      } catch (error) {
        opened.close();
        throw error;
      }
    },
  };
}
