// Jest global setup of the integration and e2e suites. A placeholder for now: the services the
// suites need (PostgreSQL, the local Kafka broker of tools/kafka/local-kafka.ts) get started here.
export default async function globalSetup(): Promise<void> {}
