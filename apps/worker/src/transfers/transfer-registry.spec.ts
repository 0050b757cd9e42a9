import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type TransferExchange, TransferRegistry } from './transfer-registry';

const TASK = '0190a6f4-1b2c-7d3e-8f40-5a6b7c8d9e0f';
const TOKEN = 'c2VjcmV0LXRva2VuLW9mLXRoZS1hcGk';
const digest = (text: string) => createHash('sha256').update(text).digest('hex');

/** A response that records what it was answered; the registry writes nothing else. */
function exchange(): TransferExchange & { answered: () => number | undefined } {
  let status: number | undefined;
  const response = {
    headersSent: false,
    writableEnded: false,
    destroyed: false,
    writeHead(code: number) {
      status = code;
      return this;
    },
    end() {
      this.writableEnded = true;
    },
  };
  return {
    request: { complete: true } as IncomingMessage,
    response: response as unknown as ServerResponse,
    answered: () => status,
  };
}

const never = () => new AbortController().signal;

describe('TransferRegistry', () => {
  it('hands the request with the right token to the attempt waiting for it, once', async () => {
    const registry = new TransferRegistry();
    const opened = registry.openFor(TASK, 'upload', digest(TOKEN));
    const waiting = opened.exchange(1_000, never());
    const first = exchange();

    expect(registry.claim(TASK, 'upload', `Bearer ${TOKEN}`, first)).toBeNull();
    await expect(waiting).resolves.toBe(first);
    expect(registry.claim(TASK, 'upload', `Bearer ${TOKEN}`, exchange())).toMatchObject({
      status: 409,
    });
  });

  it('keeps a request that came before the attempt asked for it', async () => {
    const registry = new TransferRegistry();
    const opened = registry.openFor(TASK, 'download', digest(TOKEN));
    const early = exchange();
    expect(registry.claim(TASK, 'download', `Bearer ${TOKEN}`, early)).toBeNull();
    await expect(opened.exchange(1_000, never())).resolves.toBe(early);
  });

  it.each([
    ['no header', undefined],
    ['another scheme', `Basic ${TOKEN}`],
    ['another token', 'Bearer b3RoZXItdG9rZW4'],
    ['the digest itself', `Bearer ${digest(TOKEN)}`],
    ['a token with spaces', `Bearer ${TOKEN} ${TOKEN}`],
    ['an empty token', 'Bearer '],
  ])('refuses %s with 401, whatever the transfer’s state', (_case, authorization) => {
    const registry = new TransferRegistry();
    registry.openFor(TASK, 'upload', digest(TOKEN));
    expect(registry.claim(TASK, 'upload', authorization, exchange())).toMatchObject({
      status: 401,
      code: 'TRANSFER.BAD_TOKEN',
    });
    expect(registry.claim(TASK, 'download', authorization, exchange())).toMatchObject({
      status: 401,
    });
  });

  it('answers 404 for a task with nothing open, and once the attempt closed its transfer', () => {
    const registry = new TransferRegistry();
    expect(registry.claim(TASK, 'upload', `Bearer ${TOKEN}`, exchange())).toMatchObject({
      status: 404,
    });
    registry.openFor(TASK, 'upload', digest(TOKEN)).close();
    expect(registry.claim(TASK, 'upload', `Bearer ${TOKEN}`, exchange())).toMatchObject({
      status: 404,
    });
  });

  it('gives up after the wait with the direction’s code; a request coming later is refused', async () => {
    const registry = new TransferRegistry();
    const upload = registry.openFor(TASK, 'upload', digest(TOKEN));
    await expect(upload.exchange(10, never())).rejects.toMatchObject({
      code: 'IMPORT.UPLOAD_TIMEOUT',
    });
    expect(registry.claim(TASK, 'upload', `Bearer ${TOKEN}`, exchange())).toMatchObject({
      status: 409,
    });
    const download = new TransferRegistry().openFor(TASK, 'download', digest(TOKEN));
    await expect(download.exchange(10, never())).rejects.toMatchObject({
      code: 'EXPORT.DOWNLOAD_TIMEOUT',
    });
  });

  it('stops waiting when the attempt is stopped, with the stop as the reason', async () => {
    const registry = new TransferRegistry();
    const stop = new AbortController();
    const waiting = registry.openFor(TASK, 'upload', digest(TOKEN)).exchange(60_000, stop.signal);
    stop.abort('cancelled');
    await expect(waiting).rejects.toBe('cancelled');
  });

  it('answers 410 a request the attempt never took up, and lets only the newest attempt be reached', () => {
    const registry = new TransferRegistry();
    const older = registry.openFor(TASK, 'upload', digest(TOKEN));
    const newer = registry.openFor(TASK, 'upload', digest('newer-token'));
    expect(registry.claim(TASK, 'upload', `Bearer ${TOKEN}`, exchange())).toMatchObject({
      status: 401,
    });
    older.close();
    const untaken = exchange();
    expect(registry.claim(TASK, 'upload', 'Bearer newer-token', untaken)).toBeNull();
    newer.close();
    expect(untaken.answered()).toBe(410);
  });
});
