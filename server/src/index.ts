export * from './bus.js';
export * from './presence.js';
