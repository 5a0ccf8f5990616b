/**
 * Gossip topic names. The version is part of the topic (STYLE.md §6), so a v2 message
 * format lives on a new topic and v1 peers simply never see it.
 */
export const UPDATE_TOPIC_VERSION = 1;
export const AGGREGATE_TOPIC_VERSION = 1;
/** Secure-aggregation control messages: keys, encrypted shares, views, proposals, reveals, results. */
export const SECAGG_TOPIC_VERSION = 1;
/** Committee members' EIP-712 signatures of a round record (protocol/messages/finalize.ts). */
export const FINALIZE_TOPIC_VERSION = 1;

/**
 * Committee members' EIP-712 signatures of a lock charge (red team F18), in the FinalizeSignature
 * v1 layout (protocol/messages/finalize.ts) with the `roundChargeDigest` (protocol/chain/charge.ts).
 */
export const CHARGE_TOPIC_VERSION = 1;

export type TopicKind = 'update' | 'aggregate' | 'secagg' | 'finalize' | 'charge';

const TOPIC_VERSIONS: Record<TopicKind, number> = {
  update: UPDATE_TOPIC_VERSION,
  aggregate: AGGREGATE_TOPIC_VERSION,
  secagg: SECAGG_TOPIC_VERSION,
  finalize: FINALIZE_TOPIC_VERSION,
  charge: CHARGE_TOPIC_VERSION,
};

export function topicFor(federation: string, kind: TopicKind): string {
  return `/fedmesh/${federation}/${kind}/${TOPIC_VERSIONS[kind]}`;
}

/** Federation ids: lowercase letters, digits and dashes, 1–64 chars (safe inside a topic). */
export const FEDERATION_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;
