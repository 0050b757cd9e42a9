/** Injection tokens for what the platform provides to every app. */
export const DOLLY_CONFIG = Symbol('DOLLY_CONFIG');
export const PG_POOL = Symbol('PG_POOL');
export const KAFKA = Symbol('KAFKA');
export const SERVICE_NAME = Symbol('SERVICE_NAME');
