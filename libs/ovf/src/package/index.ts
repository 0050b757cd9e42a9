export * from './certificate';
export * from './chunks';
export * from './folder-members';
export * from './listed-members';
export * from './manifest';
export * from './member';
export * from './ova-members';
export * from './read-package';
