// Public surface of verify.
export * from './types.js';
export * from '../system/http.js';
export * from './docker.js';
export * from './derive.js';
export * from './catalog.js';
export * from './run.js';
export * from './reporters.js';
export * from '../stackfile/deployed-settings.js';
