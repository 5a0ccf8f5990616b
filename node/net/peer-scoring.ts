/**
 * Gossipsub peer scoring for fedmesh (gossipsub v1.1 spec, "Peer Scoring": P1–P7 and the
 * gossip/publish/graylist thresholds; libp2p/specs pubsub/gossipsub/gossipsub-v1.1.md).
 *
 * What fedmesh needs from scoring is narrow: a federation has a known, on-chain member list
 * and bursty traffic (a few messages per peer per round, then silence), so
 * - a REJECT verdict (protocol/validate.ts) must cost the forwarding peer: P4, invalid
 *   message deliveries, is the main penalty;
 * - a non-member has no business on federation topics: P5, the application-specific score,
 *   puts it below the graylist threshold as soon as membership is known, so its RPCs are
 *   dropped before validation;
 * - nothing may penalise an honest member for the protocol's silences: P3 (mesh message
 *   delivery deficit) and P3b (mesh failure) are off, and P6 (IP colocation) is off because
 *   membership, not IP diversity, is the Sybil defence and simulations put every peer on
 *   127.0.0.1 (with the gossipsub default, 16 loopback peers would graylist each other).
 *
 * Every value is documented in docs/threat-model.md ("Peer scoring"), with the arithmetic.
 */
import {
  createPeerScoreParams,
  createPeerScoreThresholds,
  createTopicScoreParams,
  type PeerScoreParams,
  type PeerScoreThresholds,
  type TopicScoreParams,
  validatePeerScoreParams,
  validatePeerScoreThresholds,
  validateTopicScoreParams,
} from '@libp2p/gossipsub/score';

/**
 * Per-topic parameters, the same for every fedmesh topic (update, aggregate, secagg, finalize).
 * Score of one topic = topicWeight × (P1 + P2 + P4 terms); the positive part is capped by
 * `topicScoreCap` across topics.
 */
export const FEDMESH_TOPIC_SCORE: Readonly<Partial<TopicScoreParams>> = {
  topicWeight: 1,
  // P1, time in mesh: +0.01 per second in the mesh, at most +3 (after 5 minutes).
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 300,
  // P2, first deliveries: +0.5 per message first delivered by the peer, at most +7; halves in ~7 s.
  firstMessageDeliveriesWeight: 0.5,
  firstMessageDeliveriesDecay: 0.9,
  firstMessageDeliveriesCap: 14,
  // P3 and P3b off: rounds are bursty, a silent topic between rounds is not misbehaviour.
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 100,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 60_000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,
  // P4, invalid deliveries (every REJECT): −4 × count². One REJECT: −4 (below 0); three: −36;
  // five: −100, below the graylist threshold. The count decays by 5% a second (half-life
  // ≈ 13.5 s), so a steady 1 REJECT/s converges to a count of 20 (−1600): graylisted.
  invalidMessageDeliveriesWeight: -4,
  invalidMessageDeliveriesDecay: 0.95,
};

/** P5 for a peer that is not a federation member (× `appSpecificWeight` 10 = −100). */
export const NON_MEMBER_APP_SCORE = -10;

/**
 * Thresholds (gossipsub v1.1 §"Score Thresholds"):
 * - gossip −10: below it, no IHAVE/IWANT is exchanged with the peer (three REJECTs get there);
 * - publish −50: below it, our own messages are not flood-published to the peer;
 * - graylist −80: below it, every RPC from the peer is ignored before validation — a
 *   non-member (−100) starts there, a member gets there with five REJECTs in quick succession;
 * - acceptPX 100: peer exchange only from peers far above anything P1+P2 (cap 10) give: off;
 * - opportunisticGraft 5: graft better peers when the mesh median falls below +5.
 */
export const FEDMESH_SCORE_THRESHOLDS: Readonly<PeerScoreThresholds> = {
  gossipThreshold: -10,
  publishThreshold: -50,
  graylistThreshold: -80,
  acceptPXThreshold: 100,
  opportunisticGraftThreshold: 5,
};

/** Membership as peer scoring sees it; undefined until the node knows the member list. */
export interface ScoringMembership {
  isMember?: (peer: string) => boolean;
}

/** Peer-score parameters with the app-specific score read from `membership`. */
export function fedmeshScoreParams(membership: ScoringMembership): PeerScoreParams {
  const params = createPeerScoreParams({
    topics: {},
    // Positive topic contributions (P1 + P2) are capped at +10 across all topics.
    topicScoreCap: 10,
    appSpecificScore: (peer) => (membership.isMember === undefined || membership.isMember(peer) ? 0 : NON_MEMBER_APP_SCORE),
    appSpecificWeight: 10,
    IPColocationFactorWeight: 0,
    IPColocationFactorThreshold: 10,
    IPColocationFactorWhitelist: new Set(),
    // P7 (protocol misbehaviour such as broken promises, GRAFT during backoff): gossipsub's defaults.
    behaviourPenaltyWeight: -10,
    behaviourPenaltyThreshold: 0,
    behaviourPenaltyDecay: 0.2,
    decayInterval: 1000,
    decayToZero: 0.01,
    // A penalised peer keeps its score for an hour after disconnecting: reconnecting does not reset it.
    retainScore: 3600 * 1000,
  });
  validatePeerScoreParams(params);
  return params;
}

export function fedmeshScoreThresholds(): PeerScoreThresholds {
  const t = createPeerScoreThresholds(FEDMESH_SCORE_THRESHOLDS);
  validatePeerScoreThresholds(t);
  return t;
}

/** Topic parameters for one fedmesh topic (validated). */
export function fedmeshTopicScore(): TopicScoreParams {
  const p = createTopicScoreParams(FEDMESH_TOPIC_SCORE);
  validateTopicScoreParams(p);
  return p;
}
