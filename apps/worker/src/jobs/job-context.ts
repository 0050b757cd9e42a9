import type { DiskEnginePort, OperationProgress } from '@dolly/disk-engine';
import type { AttemptTransfer } from '../transfers/attempt-transfer';

/** What imports need besides their job: where packages may be read from, whom to trust. */
export interface ImportSettings {
  /** DOLLY_IMPORT_ROOTS: a package imported by path lies strictly inside one. */
  roots: string[];
  /** The PEMs of DOLLY_IMPORT_TRUSTED_CA_FILES; empty: any certificate that verifies. */
  trustedCaPems: string[];
}

/** What a job runs with: the engine, its task, and where its progress goes. */
export interface JobContext {
  engine: DiskEnginePort;
  taskId: string;
  workerId: string;
  signal: AbortSignal;
  /** Aggregated progress of the whole job. */
  progress(phase: string, doneBytes: number, totalBytes: number): void;
  /** The attempt's transfer endpoint: an import's upload, an export's download. */
  transfer: AttemptTransfer;
  imports: ImportSettings;
}

/**
 * The same task keeps the same operation ids across attempts: a worker taking over a task the
 * engine already finished (or half did) gets the recorded outcome, or the engine's recovery.
 */
// The engine's ids allow letters, digits, '-', '_' and '.' (no '/'), up to 128 characters.
export const operationId = (context: JobContext, ...parts: string[]) =>
  [context.taskId, ...parts].join('.');

/** Progress of several engine operations run one after the other, as one bar. */
export function progressOverSteps(context: JobContext, totals: number[]) {
  const total = totals.reduce((a, b) => a + b, 0);
  let before = 0;
  return {
    step(index: number) {
      before = totals.slice(0, index).reduce((a, b) => a + b, 0);
      return {
        onProgress: (p: OperationProgress) =>
          context.progress(p.phase, before + Math.min(p.doneBytes, totals[index]), total),
        signal: context.signal,
      };
    },
    done: () => context.progress('done', total, total),
  };
}
