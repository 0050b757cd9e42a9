import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import { AuditEntryRow } from '@dolly/read-models';
import { Repository } from 'typeorm';
import { type Reader } from '../shared/live-disk-access';
import { type Page, findPage } from '../shared/pagination';
import { type AuditEntryView, auditEntryView } from './audit.representation';

/** The history of one object (a stream), oldest first. */
export class StreamAuditLog extends Query<Page<AuditEntryView>> {
  constructor(
    readonly streamId: string,
    readonly limit: number,
    readonly cursor: string | undefined,
    readonly reader: Reader,
  ) {
    super();
  }
}

@QueryHandler(StreamAuditLog)
export class StreamAuditLogHandler implements IQueryHandler<StreamAuditLog> {
  constructor(
    @InjectRepository(AuditEntryRow) private readonly entries: Repository<AuditEntryRow>,
  ) {}

  execute({ streamId, limit, cursor, reader }: StreamAuditLog): Promise<Page<AuditEntryView>> {
    return findPage(this.entries, {
      where: { streamId },
      key: 'streamVersion',
      limit,
      cursor,
      view: (row) => auditEntryView(row, reader),
    });
  }
}
