/**
 * Secure aggregation (Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving
 * Machine Learning", CCS 2017, §4, with the §6–7 consistency check) with the round's committee
 * as a quorum server. See docs/secure-aggregation.md for the protocol, the security argument
 * and the limits.
 */
export * from './certify.js';
export * from './committee-keys.js';
export * from './committee-member.js';
export * from './config.js';
export * from './crypto.js';
export * from './errors.js';
export * from './floors.js';
export * from './graph.js';
export * from './in-memory-round.js';
export * from './masking.js';
export * from './participant.js';
export * from './quantize.js';
export * from './ring.js';
export * from './round-keys.js';
export * from './shamir.js';
export * from './share-vault.js';
export * from './stages.js';
export * from './views.js';
