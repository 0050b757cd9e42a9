import { type DynamicModule, Global, Inject, Module, type OnModuleInit } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { type DollyConfig, loadConfig } from '@dolly/config';
import { createKafka, kafkaConnection } from '@dolly/messaging';
import { dataSourceOptions, survivesEndedSessions } from '@dolly/persistence';
import type { Kafka } from 'kafkajs';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import type { Pool } from 'pg';
import { DataSource, type EntitySchema } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { v7 as uuidv7 } from 'uuid';
import { AuthGuard, TokenBook } from './auth';
import { HealthController, HealthRegistry } from './health';
import { Metrics, MetricsController } from './metrics';
import { ProblemFilter } from './problem';
import { DOLLY_CONFIG, KAFKA, PG_POOL, SERVICE_NAME } from './tokens';

export type ServiceName = 'api' | 'projector' | 'worker';

export interface PlatformOptions {
  service: ServiceName;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities?: (Function | EntitySchema)[];
  poolSize?: number;
}

const CORRELATION_HEADER = 'x-correlation-id';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Registers the health of what every app depends on: PostgreSQL. */
class PlatformHealth implements OnModuleInit {
  constructor(
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  onModuleInit(): void {
    this.health.register('postgresql', async () => {
      const started = process.hrtime.bigint();
      await this.pool.query('SELECT 1');
      return {
        status: 'up',
        details: { roundTripMs: Number(process.hrtime.bigint() - started) / 1e6 },
      };
    });
  }
}

/**
 * What every Dolly app stands on: configuration, JSON logs with correlation ids, PostgreSQL (one
 * pool, shared by TypeORM and the event store), Kafka, authentication, problem+json errors,
 * health and Prometheus metrics.
 */
@Global()
@Module({})
export class PlatformModule {
  static forRoot(options: PlatformOptions): DynamicModule {
    const config = loadConfig();
    return {
      module: PlatformModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            base: { service: `dolly-${options.service}` },
            messageKey: 'message',
            formatters: { level: (label) => ({ level: label }) },
            genReqId: (request, response) => {
              const given = request.headers[CORRELATION_HEADER];
              const id = typeof given === 'string' && UUID.test(given) ? given : uuidv7();
              response.setHeader(CORRELATION_HEADER, id);
              return id;
            },
            customAttributeKeys: { reqId: 'correlationId' },
            // Request lines are info: above that level, skip building them at all (a hot path).
            autoLogging: ['trace', 'debug', 'info'].includes(config.logLevel) && {
              ignore: (request) =>
                request.url === '/metrics' || request.url?.startsWith('/health') === true,
            },
            redact: ['req.headers.authorization'],
          },
        }),
        TypeOrmModule.forRoot({
          ...dataSourceOptions({
            databaseUrl: config.databaseUrl,
            entities: options.entities ?? [],
            poolSize: options.poolSize ?? 20,
            applicationName: `dolly-${options.service}`,
            idleInTransactionTimeoutMs: config.pgIdleInTransactionTimeoutMs,
          }),
        }),
      ],
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: SERVICE_NAME, useValue: options.service },
        { provide: DOLLY_CONFIG, useValue: config },
        { provide: TokenBook, useFactory: () => TokenBook.fromEnvironment() },
        {
          provide: PG_POOL,
          inject: [DataSource, PinoLogger],
          useFactory: (dataSource: DataSource, logger: PinoLogger) =>
            survivesEndedSessions(
              (dataSource.driver as PostgresDriver).master as Pool,
              (message, error) => logger.warn({ error: error.message }, message),
            ),
        },
        {
          provide: KAFKA,
          inject: [DOLLY_CONFIG, PinoLogger],
          useFactory: (dollyConfig: DollyConfig, logger: PinoLogger): Kafka => {
            logger.setContext('kafka');
            return createKafka({
              ...kafkaConnection(dollyConfig),
              clientId: `dolly-${options.service}`,
              log: (level, message, extra) => logger[level](extra, message),
            });
          },
        },
        HealthRegistry,
        Metrics,
        PlatformHealth,
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: ProblemFilter },
      ],
      exports: [DOLLY_CONFIG, PG_POOL, KAFKA, SERVICE_NAME, HealthRegistry, Metrics, TokenBook],
    };
  }
}
