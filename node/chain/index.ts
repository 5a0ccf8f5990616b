/**
 * The chain ports and their implementations: `ChainClient` (types.ts) with `EthersChainClient`
 * over the RoundLedger contract and `InMemoryChainClient`, its in-memory twin; and
 * `FederationChainClient` (federation-types.ts) with `EthersFederationClient` over
 * FedmeshFederation and `InMemoryFederationClient`.
 *
 * The Hardhat helpers (./hardhat.js), deployment (./federation-deploy.js, ./deployment.js) and the
 * local node (./local-node.js) are deliberately not re-exported: importing them pulls in Hardhat,
 * which a node talking to a remote chain or to the twin does not need.
 */
export type { ChainClient, Hex32, RecordedRound, RoundRecord } from './types.js';
export {
  ChainError,
  type ChainErrorCode,
  type ChainErrorFields,
  isChainError,
  type ChainRoundStatus,
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
export { FEDMESH_FEDERATION_ABI } from './federation-abi.js';
export { EthersFederationClient, type EthersFederationClientInit, FEDMESH_FEDERATION_INTERFACE } from './federation-ethers.js';
export { federationErrorFromRevert } from './federation-errors.js';
export {
  FEDERATION_ADMIN_ROLE,
  InMemoryFederation,
  InMemoryFederationClient,
  type InMemoryFederationInit,
  inMemoryFederationAddress,
} from './federation-memory.js';
export type {
  AbortedRound,
  FederationChainClient,
  FederationInfo,
  FederationParams,
  FinalizedRound,
  MemberInfo,
  MemberStatus,
  NewMember,
  OpenedRound,
  PrivacyBudget,
  RoundState,
  RoundStatus,
  TxInfo,
} from './federation-types.js';
