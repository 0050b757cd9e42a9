import { IQueryHandler, Query, QueryHandler } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import { AuditEntryRow } from '@dolly/read-models';
import { MoreThan, Repository } from 'typeorm';
import { type Page, decodeCursor, toPage } from '../shared/pagination';
import { type AuditEntryView, auditEntryView } from './audit.representation';

/** The history of one object (a stream), oldest first. */
export class StreamAuditLog extends Query<Page<AuditEntryView>> {
  constructor(
    readonly streamId: string,
    readonly limit: number,
    readonly cursor?: string,
  ) {
    super();
  }
}

@QueryHandler(StreamAuditLog)
export class StreamAuditLogHandler implements IQueryHandler<StreamAuditLog> {
  constructor(
    @InjectRepository(AuditEntryRow) private readonly entries: Repository<AuditEntryRow>,
  ) {}

  async execute({ streamId, limit, cursor }: StreamAuditLog): Promise<Page<AuditEntryView>> {
    const after = decodeCursor(cursor);
    const rows = await this.entries.find({
      where: { streamId, ...(after ? { streamVersion: MoreThan(Number(after)) } : {}) },
      order: { streamVersion: 'ASC' },
      take: limit + 1,
    });
    const page = toPage(rows, limit, (row) => String(row.streamVersion));
    return { items: page.items.map(auditEntryView), nextCursor: page.nextCursor };
  }
}
