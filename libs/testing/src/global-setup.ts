// Placeholder until the main team brings the real-service fixtures (Kafka, PostgreSQL).
export default async function globalSetup(): Promise<void> {}
