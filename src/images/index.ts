// src/images: build plan, incremental builder, availability per source, push to a target.
export * from './apt-sources.js';
export * from './plan.js';
export * from './hash.js';
export * from './manifest.js';
export * from './prepare.js';
export * from './snapshot.js';
export * from './base.js';
export * from './builder.js';
export * from './summary.js';
export * from './push.js';
