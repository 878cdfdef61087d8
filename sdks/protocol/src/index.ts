export * from './codes.js';
export * from './channels.js';
export * from './frames.js';
export * from './defaults.js';
export * from './http.js';
export * from './backoff.js';
