/**
 * The chain port and its implementations: `FederationChainClient` (federation-types.ts) with
 * `EthersFederationClient` over a deployed FedmeshFederation (federation-ethers.ts) and
 * `ResilientFederationClient`, which adds retries, a transaction queue and confirmations around
 * any client (resilient.ts). There is no in-memory re-implementation of the contract: tests run
 * its bytecode on the in-process Hardhat network (./hardhat.js).
 *
 * The Hardhat helpers (./hardhat.js), deployment (./federation-deploy.js, ./deployment.js) and the
 * local node (./local-node.js) are deliberately not re-exported: importing them pulls in Hardhat,
 * which a node talking to a remote chain does not need.
 */
export type { Hex32, RecordedRound } from './types.js';
export {
  ChainError,
  type ChainErrorCode,
  type ChainErrorFields,
  isChainError,
  type ChainRoundStatus,
  type RoundRecordField,
} from './errors.js';
export { DEFAULT_POLL_INTERVAL_MS, ZERO_HASH } from './record.js';
export { FEDMESH_FEDERATION_ABI, FEDMESH_REGISTRY_LENS_ABI } from './federation-abi.js';
export {
  EthersFederationClient,
  type EthersFederationClientInit,
  FEDMESH_FEDERATION_INTERFACE,
  FEDMESH_REGISTRY_LENS_INTERFACE,
  registryLensOf,
} from './federation-ethers.js';
export { federationErrorFromRevert } from './federation-errors.js';
export { recordedFromFinalized } from './federation-ledger-view.js';
export { ResilientFederationClient, type ResilientInit } from './resilient.js';
export type {
  AbortedRound,
  CarriedBudget,
  ChargedRound,
  FederationChainClient,
  FederationStudyClient,
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
  StudyChainInfo,
  TxInfo,
} from './federation-types.js';
