/**
 * Pure, deterministic on-chain helpers for the FedmeshFederation contract (contracts/): the
 * committee procedure, the EIP-712 round record, the packed privacy-budget encoding and the
 * credit rule. No I/O; ethers is used only for keccak, ABI encoding and EIP-712 hashing.
 */
export {
  addPacked,
  C_ALPHA_MAX,
  C_ALPHA_MIN,
  cAlpha,
  ceilScaled,
  decodePacked,
  EPSILON_CAP_MAX,
  EPSILON_UNBOUNDED,
  encodeEpsilonCap,
  encodeRdp,
  epsilonFromPacked,
  fixedToNumber,
  floorScaled,
  ONCHAIN_RDP_ORDERS,
  RDP_LANE_BITS,
  RDP_LANE_MAX,
  RDP_LANES,
  RDP_MASK,
  RDP_SCALE,
} from './budget.js';
export { type ActiveListChange, committeeIndices, nextActiveMembers, roundSeed, selectCommitteeOnChain } from './committee.js';
export {
  type FinalizedRoundCredits,
  PARTICIPATION_CREDIT,
  replayCredits,
  SAMPLE_COUNT_BUCKET_FLOORS,
  SERVICE_CREDIT,
  sampleCountBucket,
} from './credits.js';
export { invalidValue, OnChainError, type OnChainErrorCode, type OnChainErrorFields } from './errors.js';
export {
  canonicalRoundRecord,
  compareAddresses,
  FEDMESH_EIP712_NAME,
  FEDMESH_EIP712_VERSION,
  federationDomain,
  fullServiceMask,
  type Hex32,
  MAX_RECORD_ENTRIES,
  type OnChainParticipant,
  type OnChainRoundRecord,
  ROUND_RECORD_TYPES,
  roundRecordDigest,
  roundRecordStructHash,
  toTypedValue,
} from './record.js';
export { type DeclaredDpParams, decodeDpParams, declaredSpend, encodeDpParams, NO_DP_PARAMS } from './dp-params.js';
export {
  bindingDomain,
  DEPLOYMENT_BINDING_BYTES,
  type DeploymentBinding,
  deploymentBinding,
  deploymentBindingBytes,
} from './deployment-binding.js';
export {
  checkEntrySpend,
  PARTICIPANT_ENTRY_TYPES,
  type ParticipantEntry,
  participantEntry,
  participantEntryDigest,
  participantEntryStructHash,
  participantEntryValue,
  recoverParticipantEntry,
  signParticipantEntry,
  type TypedDataSigner,
  verifyParticipantEntry,
} from './participant-entry.js';
export { type AdmissionInput, type AdmissionRefusal, budgetAfter, checkAdmission } from './declaration.js';
