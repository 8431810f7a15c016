export * from './settings.js';
export * from './address.js';
export * from './load.js';
export * from './apps.js';
export * from './acme.js';
