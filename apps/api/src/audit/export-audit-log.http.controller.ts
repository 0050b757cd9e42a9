import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Controller, Get, Headers, Inject, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { StringEnum, Uuid, ValidationError } from '@dolly/domain';
import { PG_POOL, type Principal, Requires, Validate } from '@dolly/platform';
import { type Static, Type } from '@sinclair/typebox';
import { stringify } from 'csv-stringify';
import type { Response } from 'express';
import type { Pool } from 'pg';
import { ApiProblems } from '../shared/openapi';
import { Caller } from '../shared/request-context';
import { WaitSlots } from '../shared/request-limits';
import { type AuditExportRow, auditExportPages } from './audit-export.query';
import { AUDIT_CSV_COLUMNS, auditExportEntry } from './audit-export.representation';

const NDJSON = 'application/x-ndjson';
const CSV = 'text/csv';
const FORMATS = ['jsonl', 'csv'] as const;

const AuditExportQuery = Type.Object(
  {
    vmId: Type.Optional(Uuid('Only this VM’s history.')),
    poolId: Type.Optional(
      Uuid('Only this pool’s history and what its commands caused (the same correlation id).'),
    ),
    principal: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'Only what this principal did (a token’s name, as recorded as the actor).',
      }),
    ),
    from: Type.Optional(
      Type.String({ format: 'date-time', description: 'Changes that occurred at or after.' }),
    ),
    to: Type.Optional(
      Type.String({ format: 'date-time', description: 'Changes that occurred before.' }),
    ),
    format: Type.Optional(
      StringEnum(FORMATS, `jsonl (${NDJSON}) or csv (${CSV}); default: by Accept, else jsonl.`),
    ),
  },
  { additionalProperties: false },
);
type AuditExportQuery = Static<typeof AuditExportQuery>;

/** Rows in, whatever `map` makes of each out (cells for CSV, a line of text). */
const objectTransform = (map: (row: AuditExportRow) => unknown) =>
  new Transform({
    objectMode: true,
    transform: (row: AuditExportRow, _encoding, done) => done(null, map(row)),
  });

/**
 * The audit log exported for auditors, streamed as it is read: JSON lines or CSV, one entry per
 * recorded change with who, what, when, its correlation and how its command ended. A failure
 * after the first byte cuts the answer short (no final chunk), so a client never takes a partial
 * export for a whole one; a caller that goes away stops the read.
 */
@ApiTags('audit')
@ApiBearerAuth()
@Controller('audit')
export class ExportAuditLogController {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly slots: WaitSlots,
  ) {}

  @Get()
  @Requires('audit:read')
  @ApiOperation({
    summary:
      'Export the audit log of a VM, a pool, a principal or a time range (every condition given must hold), oldest first, streamed: JSON lines (AuditExportEntry) or CSV with a header row.',
  })
  @ApiProduces(NDJSON, CSV)
  @ApiProblems(400, 429)
  async export(
    @Query(new Validate(AuditExportQuery)) query: AuditExportQuery,
    @Headers('accept') accept: string | undefined,
    @Caller() caller: Principal,
    @Res() response: Response,
  ): Promise<void> {
    if (query.from && query.to && Date.parse(query.from) >= Date.parse(query.to))
      throw new ValidationError('REQUEST.INVALID', 'The request has 1 problem', [
        { code: 'REQUEST.EMPTY_RANGE', pointer: '/query/to', detail: 'must be after from' },
      ]);
    const format = query.format ?? (accept?.includes(CSV) ? 'csv' : 'jsonl');
    const release = this.slots.take(caller);
    try {
      const pages = auditExportPages(this.pool, query);
      // The first page before the first byte: a database that is away is a problem answer.
      const first = await pages.next();
      // attachment() sets a type from the file name's extension: the type is set after it.
      response
        .status(200)
        .attachment(`dolly-audit.${format}`)
        .type(format === 'csv' ? `${CSV}; charset=utf-8` : NDJSON);
      const entries = Readable.from(
        (async function* () {
          if (first.done) return;
          yield* first.value;
          for await (const page of pages) yield* page;
        })(),
      );
      const entry = (row: AuditExportRow) => auditExportEntry(row, caller);
      const encode =
        format === 'csv'
          ? [
              objectTransform((row) => AUDIT_CSV_COLUMNS.map(([, cell]) => cell(entry(row)))),
              stringify({ header: true, columns: AUDIT_CSV_COLUMNS.map(([header]) => header) }),
            ]
          : [objectTransform((row) => `${JSON.stringify(entry(row))}\n`)];
      await pipeline([entries, ...encode, response]).catch((error: unknown) => {
        // Headers went out: the only honest end left is a broken one.
        if (!response.destroyed) response.destroy(error as Error);
      });
    } finally {
      release();
    }
  }
}
