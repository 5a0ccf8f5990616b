/**
 * Gossip topic names. The version is part of the topic (STYLE.md §6), so a v2 message
 * format lives on a new topic and v1 peers simply never see it.
 */
export const UPDATE_TOPIC_VERSION = 1;
export const AGGREGATE_TOPIC_VERSION = 1;

export type TopicKind = 'update' | 'aggregate';

export function topicFor(federation: string, kind: TopicKind): string {
  const v = kind === 'update' ? UPDATE_TOPIC_VERSION : AGGREGATE_TOPIC_VERSION;
  return `/fedmesh/${federation}/${kind}/${v}`;
}

/** Federation ids: lowercase letters, digits and dashes, 1–64 chars (safe inside a topic). */
export const FEDERATION_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;
