/**
 * The secure round as one state machine (issue 13, "The shape"): see ./step.ts.
 */
export * from './committee-stages.js';
export { Emit } from './emit.js';
export * from './participant-stages.js';
export * from './simulation.js';
export * from './step.js';
export { Feeder, ReceivedStore, slotOf } from './store.js';
export * from './types.js';
