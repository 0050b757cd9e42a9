/**
 * Schemas of event versions that are no longer current, frozen as published, each with how its
 * data reads as the version after it: one file per stream kind. The domain knows only current
 * versions.
 */
export type { EarlierVersion } from './earlier-version';
export * from './datastore';
export * from './vm';
export * from './task';
export * from './pool';
