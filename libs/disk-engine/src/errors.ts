/**
 * Stable error codes of the disk engine. Callers branch on `code`, never on `message`; the
 * message is for humans and may change. `retryable` says whether the same operation id may be
 * run again (a crash, a cancel, a busy layer) or whether it will fail the same way forever
 * (bad input), in which case a retry replays the recorded failure.
 */
export const DISK_ERROR_CODES = {
  'DISK.NOT_FOUND': { retryable: false, meaning: 'unknown datastore, disk or layer' },
  'DISK.ALREADY_EXISTS': { retryable: false, meaning: 'a disk with this id already exists' },
  'DISK.BAD_NAME': {
    retryable: false,
    meaning: 'an id or file name with a path separator or odd characters',
  },
  'DISK.BAD_REQUEST': {
    retryable: false,
    meaning: 'a size, alignment or option that cannot be honoured',
  },
  'DISK.LAYER_FROZEN': {
    retryable: false,
    meaning: 'a write (or writable export) of a frozen layer',
  },
  'DISK.NOT_FROZEN': {
    retryable: false,
    meaning: 'a linked clone needs a frozen layer to stand on',
  },
  'DISK.LAYER_SHARED': {
    retryable: false,
    meaning: 'consolidate refused: the layer below has other dependants',
  },
  'DISK.NO_BACKING': {
    retryable: false,
    meaning: 'consolidate refused: nothing below to merge into',
  },
  'DISK.NOT_IN_CHAIN': {
    retryable: false,
    meaning: 'materialise refused: that layer is not below this one',
  },
  'DISK.OUT_OF_RANGE': {
    retryable: false,
    meaning: 'an offset or length past the end of the disk',
  },
  'DISK.NO_SPACE': {
    retryable: false,
    meaning: 'the datastore cannot hold it; refused before any byte was written',
  },
  'DISK.BACKING_OUTSIDE_DATASTORE': {
    retryable: false,
    meaning: 'a backing file outside the datastore folder',
  },
  'DISK.FORMAT_MISMATCH': {
    retryable: false,
    meaning: 'an image that is not what its name or the caller says',
  },
  'DISK.UNSUPPORTED_FORMAT': {
    retryable: false,
    meaning: 'an image format or VMDK subformat we do not import',
  },
  'DISK.QUARANTINED': {
    retryable: false,
    meaning: 'check moved this layer aside; it cannot be used',
  },
  'DISK.NOT_QUARANTINED': {
    retryable: false,
    meaning: 'only a quarantined layer can be restored; this one is not (or is not a layer)',
  },
  'DISK.STILL_BROKEN': {
    retryable: false,
    meaning: 'checked again before its restore, the layer is still not sound: it stays quarantined',
  },
  'DISK.OPERATION_CONFLICT': {
    retryable: false,
    meaning: 'this operation id was used for another command',
  },
  'DISK.IN_USE': {
    retryable: true,
    meaning: 'the disk is open in the storage daemon; close it first',
  },
  'DISK.NOT_LIVE': {
    retryable: false,
    meaning: 'the disk or layer is not open in the storage daemon',
  },
  'DISK.BUSY': { retryable: true, meaning: 'another operation holds a layer this one needs' },
  'DISK.OPERATION_IN_PROGRESS': {
    retryable: true,
    meaning: 'another worker is running this operation id; retry for its outcome',
  },
  'DISK.OPERATION_TAKEN_OVER': {
    retryable: true,
    meaning:
      'another worker took this worker for dead and finished its operation; retry for the outcome',
  },
  'DISK.CANCELLED': {
    retryable: true,
    meaning: 'the caller aborted; nothing of it is left behind',
  },
  'DISK.UNSAFE_RUNTIME_DIR': {
    retryable: false,
    meaning:
      'the storage daemon will not start in a runtime folder others may enter or replace (details name it)',
  },
  'DISK.BAD_NBD_SERVER_CONFIG': {
    retryable: false,
    meaning: 'an NBD listen address or TLS setting that cannot be honoured safely',
  },
  'DISK.DAEMON_UNAVAILABLE': {
    retryable: true,
    meaning: 'the storage daemon is down or restarting',
  },
  'DISK.DATASTORE_FOREIGN': {
    retryable: false,
    meaning: "the datastore's folder holds another datastore: nothing in it is touched",
  },
  'DISK.DATASTORE_NOT_EMPTY': {
    retryable: false,
    meaning:
      "the datastore's folder holds files that are not a Dolly datastore (or is no folder): nothing in it is touched",
  },
  'DISK.QEMU_FAILED': {
    retryable: true,
    meaning: 'QEMU refused or failed; details hold what it said',
  },
} as const;

export type DiskErrorCode = keyof typeof DISK_ERROR_CODES;

/** The JSON form of an error, as recorded in the operation log and returned by jobs. */
export interface DiskErrorData {
  code: DiskErrorCode;
  message: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

export class DiskEngineError extends Error {
  override readonly name = 'DiskEngineError';
  readonly retryable: boolean;

  constructor(
    readonly code: DiskErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.retryable = DISK_ERROR_CODES[code].retryable;
  }

  toJSON(): DiskErrorData {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      details: this.details,
    };
  }

  static fromJSON(data: DiskErrorData): DiskEngineError {
    return new DiskEngineError(data.code, data.message, data.details ?? {});
  }
}

export function isDiskEngineError(error: unknown, code?: DiskErrorCode): error is DiskEngineError {
  return error instanceof DiskEngineError && (code === undefined || error.code === code);
}

/** Anything thrown, as the JSON the operation log keeps; unknown errors count as QEMU failures. */
export function toDiskErrorData(error: unknown): DiskErrorData {
  if (error instanceof DiskEngineError) return error.toJSON();
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'DISK.QEMU_FAILED', message, retryable: true };
}
