export * from './projection';
export * from './projector-engine';
export * from './rebuild';
export * from './entities';
