/**
 * Wire limits, checked before any decoding (STYLE.md §7).
 */

/**
 * Largest gossip message fedmesh sends or accepts. gossipsub frames above 4 MiB cannot be
 * sent (its default maxInboundDataLength / yamux window), and large frames hurt mesh
 * latency, so we stay at 1 MiB and chunk bigger payloads.
 */
export const MAX_GOSSIP_MESSAGE_BYTES = 1024 * 1024;

/** Chunk envelope header is < 400 bytes (ids ≤ 128 B, federation ≤ 64 B); keep 4 KiB slack. */
export const MAX_CHUNK_DATA_BYTES = MAX_GOSSIP_MESSAGE_BYTES - 4096;

/** A payload (update or aggregate) may span at most this many chunks (≈ 256 MiB). */
export const MAX_CHUNKS = 256;

export const MAX_PAYLOAD_BYTES = MAX_CHUNKS * MAX_CHUNK_DATA_BYTES;

/** Federation ids are short ASCII names, e.g. "breast-cancer-demo". */
export const MAX_FEDERATION_ID_BYTES = 64;

/** libp2p peer id strings (base58btc Ed25519 ids are 52 chars); 128 leaves room for CIDs. */
export const MAX_PEER_ID_BYTES = 128;

/** A round's participant list; the simulator's upper bound is 64 peers, real federations are smaller. */
export const MAX_PARTICIPANTS = 1024;

/**
 * Largest secure-aggregation committee. Shamir over GF(2^8) allows 255 shares; 16 keeps an
 * unmask proposal (m signed views of up to MAX_PARTICIPANTS entries) near 1 MiB at worst and
 * each participant's share message at m AEAD ciphertexts.
 */
export const MAX_COMMITTEE_SIZE = 16;

/** Secure-aggregation control messages are single gossip messages, never chunked. */
export const MAX_SECAGG_MESSAGE_BYTES = MAX_GOSSIP_MESSAGE_BYTES;
