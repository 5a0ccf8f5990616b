/**
 * The chain port (types.ts) and its implementations: `EthersChainClient` over the RoundLedger
 * contract and `InMemoryChainClient`, its in-memory twin.
 *
 * The Hardhat helpers live in ./hardhat.js and are deliberately not re-exported: importing them
 * pulls in Hardhat, which a node talking to a remote chain or to the twin does not need.
 */
export type { ChainClient, Hex32, RecordedRound, RoundRecord } from './types.js';
export {
  ChainError,
  type ChainErrorCode,
  type ChainErrorFields,
  isChainError,
  type RoundRecordField,
} from './errors.js';
export {
  DEFAULT_POLL_INTERVAL_MS,
  EthersChainClient,
  type EthersChainClientInit,
} from './ethers-client.js';
export { InMemoryChainClient, InMemoryLedger } from './memory-client.js';
export { MAX_PARTICIPANT_COUNT, ZERO_HASH } from './record.js';
export { ROUND_LEDGER_ABI } from './round-ledger-abi.js';
