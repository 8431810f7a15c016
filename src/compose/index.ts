export * from './tool.js';
export * from './status.js';
export * from './control.js';
