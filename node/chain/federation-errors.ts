/**
 * FedmeshFederation custom errors (contracts/IFedmesh*.sol) mapped to `ChainError` codes
 * (STYLE.md §10). The ethers client decodes revert data against the contract ABI and maps it
 * here.
 */
import { ZeroAddress } from 'ethers';
import { EPSILON_UNBOUNDED } from '../../protocol/chain/budget.js';
import { ChainError, type ChainRoundStatus, invalidRecord } from './errors.js';
import { ZERO_HASH } from './record.js';
import type { Hex32 } from './types.js';

/** `IFedmeshRounds.RoundStatus` by its uint8 value. */
export const ROUND_STATUSES: readonly ChainRoundStatus[] = ['none', 'open', 'finalized', 'aborted'];

/** Peer id and metadata URI limits of the registry (`MAX_PEER_ID_LENGTH`, `MAX_METADATA_URI_LENGTH`). */
export const MAX_PEER_ID_LENGTH = 128;
export const MAX_METADATA_URI_LENGTH = 512;

const num = (v: unknown): number => Number(v as bigint);
const fixed = (v: unknown): number => ((v as bigint) === EPSILON_UNBOUNDED ? Number.POSITIVE_INFINITY : Number(v as bigint));

/**
 * The `ChainError` for a FedmeshFederation (or OpenZeppelin AccessControl) custom error;
 * undefined for one it does not know. `args` are as
 * `Interface.parseError` returns them (uints as bigints).
 */
export function federationErrorFromRevert(errorName: string, args: readonly unknown[], cause?: unknown): ChainError | undefined {
  const options = { cause };
  const a = args;
  const err = <C extends ConstructorParameters<typeof ChainError>[0]>(code: C, message: string, fields: ChainError<C>['fields']) =>
    new ChainError(code, message, fields, options);
  switch (errorName) {
    case 'AccessControlUnauthorizedAccount':
      return err('CHAIN_UNAUTHORIZED', `${a[0]} lacks role ${a[1]}`, { account: a[0] as string, role: a[1] as string });
    case 'FedmeshRegistryAlreadyMember':
      return err('CHAIN_ALREADY_MEMBER', `${a[0]} is already a member`, { account: a[0] as string });
    case 'FedmeshRegistryNotMember':
      return err('CHAIN_NOT_MEMBER', `${a[0]} is not a member`, { account: a[0] as string });
    case 'FedmeshRegistryNotActive':
      return err('CHAIN_MEMBER_NOT_ACTIVE', `${a[0]} is not an active member`, { account: a[0] as string });
    case 'FedmeshRegistryNotSuspended':
      return err('CHAIN_MEMBER_NOT_SUSPENDED', `${a[0]} is not suspended`, { account: a[0] as string });
    case 'FedmeshRegistryZeroAddress':
      return err('CHAIN_INVALID_MEMBER', 'the zero address cannot be a member or admin', {
        field: 'account',
        value: ZeroAddress,
        rule: 'must not be the zero address',
      });
    case 'FedmeshRegistryInvalidPeerId':
      return err('CHAIN_INVALID_MEMBER', `peer id of ${a[0]} bytes`, {
        field: 'peerId',
        value: `${a[0]} bytes`,
        rule: `must be 1..${MAX_PEER_ID_LENGTH} bytes`,
      });
    case 'FedmeshRegistryInvalidMetadataURI':
      return err('CHAIN_INVALID_MEMBER', `metadata URI of ${a[0]} bytes`, {
        field: 'metadataURI',
        value: `${a[0]} bytes`,
        rule: `must be at most ${MAX_METADATA_URI_LENGTH} bytes`,
      });
    case 'FedmeshRegistryInvalidPeerProof':
      return err('CHAIN_INVALID_MEMBER', `peer id proof of ${a[0]} bytes`, {
        field: 'peerProof',
        value: `${a[0]} bytes`,
        rule: 'must be a 64-byte Ed25519 signature',
      });
    case 'FedmeshRegistryPeerIdTaken':
      return err('CHAIN_PEER_ID_TAKEN', `peer id ${a[0]} belongs to ${a[1]}`, { peerId: a[0] as string, owner: a[1] as string });
    case 'AccessControlInvalidDefaultAdmin':
      return err('CHAIN_INVALID_MEMBER', 'the zero address cannot be the admin', {
        field: 'account',
        value: String(a[0]),
        rule: 'must not be the zero address',
      });
    case 'FedmeshRoundsSeedNotReady':
      return err('CHAIN_SEED_NOT_READY', `seed block ${a[0]} not passed at block ${a[1]}`, {
        seedBlock: num(a[0]),
        blockNumber: num(a[1]),
      });
    case 'FedmeshRoundsInvalidSeedDelay':
      return err('CHAIN_INVALID_CONFIG', `seed delay ${a[0]} blocks`, {
        field: 'seedDelay',
        value: String(a[0]),
        rule: 'must be at most 64',
      });
    case 'FedmeshLedgerInvalidDelta':
      return err('CHAIN_INVALID_CONFIG', `delta ${a[0]}e-18`, { field: 'delta', value: String(a[0]), rule: 'must be in (0, 1)' });
    case 'FedmeshLedgerInvalidCAlpha':
      return err('CHAIN_INVALID_CONFIG', `cAlpha[${a[0]}] = ${a[1]}`, {
        field: `cAlpha[${a[0]}]`,
        value: String(a[1]),
        rule: 'must be at least its δ → 1 limit ln((α−1)/α) − ln(α)/(α−1)',
      });
    case 'FedmeshRoundsEntrySignatureCount':
      return invalidRecord('entrySignatures', `${a[0]} entries`, `must be one per participant (${a[1]})`, cause);
    case 'FedmeshRoundsInvalidEntrySignature':
      return err('CHAIN_INVALID_ENTRY_SIGNATURE', `participant ${a[0]} did not sign its entry (index ${a[1]})`, {
        account: a[0] as string,
        index: num(a[1]),
      });
    case 'FedmeshRoundsInvalidServiceMask':
      return invalidRecord('serviceMask', String(a[0]), 'must have no bit at or above the committee size', cause);
    case 'FedmeshRoundsDpRequired':
      return err('CHAIN_DP_REQUIRED', `participant ${a[0]} declared no DP parameters in a DP federation`, { account: a[0] as string });
    case 'FedmeshRoundsParticipantNotMember':
      return err('CHAIN_PARTICIPANT_NOT_ACTIVE', `participant ${a[0]} is not a member`, { account: a[0] as string });
    case 'FedmeshRegistryCapNotLowered':
      return err('CHAIN_CAP_NOT_LOWERED', `${a[0]} may only lower its cap ${a[1]}, not set ${a[2]}`, {
        account: a[0] as string,
        current: num(a[1]),
        requested: num(a[2]),
      });
    case 'FedmeshRoundsInvalidCommittee':
      return err('CHAIN_INVALID_CONFIG', `committee size ${a[0]}, threshold ${a[1]}`, {
        field: 'committeeSize/threshold',
        value: `${a[0]}/${a[1]}`,
        rule: 'need 1 <= threshold <= committeeSize <= 32 and 2·threshold > committeeSize',
      });
    case 'FedmeshRoundsInvalidDurations':
      return err('CHAIN_INVALID_CONFIG', `durations ${a[0]} s, ${a[1]} s`, {
        field: 'inputDuration/finalizeDuration',
        value: `${a[0]}/${a[1]}`,
        rule: 'both must be positive',
      });
    case 'FedmeshRoundsStillOpen':
      return err('CHAIN_ROUND_STILL_OPEN', `round ${a[0]} is still open`, { round: num(a[0]) });
    case 'FedmeshRoundsTooFewActiveMembers':
      return err('CHAIN_TOO_FEW_MEMBERS', `${a[0]} active members for a committee of ${a[1]}`, {
        active: num(a[0]),
        required: num(a[1]),
      });
    case 'FedmeshRoundsUnexpectedRound':
      return err('CHAIN_UNEXPECTED_ROUND', `expected round ${a[0]}, got ${a[1]}`, { expected: num(a[0]), got: num(a[1]) });
    case 'FedmeshRoundsNotOpen': {
      const status = ROUND_STATUSES[num(a[1])] ?? 'none';
      return err('CHAIN_ROUND_NOT_OPEN', `round ${a[0]} is ${status}, not open`, { round: num(a[0]), status });
    }
    case 'FedmeshRoundsDeadlinePassed':
      return err('CHAIN_DEADLINE_PASSED', `round ${a[0]} passed its finalize deadline ${a[1]}`, {
        round: num(a[0]),
        deadline: num(a[1]),
      });
    case 'FedmeshRoundsDeadlineNotPassed':
      return err('CHAIN_DEADLINE_NOT_PASSED', `round ${a[0]} has not passed its finalize deadline ${a[1]}`, {
        round: num(a[0]),
        deadline: num(a[1]),
      });
    case 'FedmeshRoundsPrevModelHashMismatch':
      return err('CHAIN_PREV_HASH_MISMATCH', `previous model hash ${a[1]} is not the head ${a[0]}`, {
        expected: a[0] as `0x${string}`,
        got: a[1] as `0x${string}`,
      });
    case 'FedmeshRoundsZeroModelHash':
      return invalidRecord('modelHash', ZERO_HASH, 'must not be zero', cause);
    case 'FedmeshRoundsNoParticipants':
      return invalidRecord('participants', '[]', 'must not be empty', cause);
    case 'FedmeshRoundsTooManyParticipants':
      return invalidRecord('participants', `${a[0]} entries`, `must be at most ${a[1]}`, cause);
    case 'FedmeshRoundsUnsortedParticipants':
      return invalidRecord('participants', `index ${a[0]}`, 'must ascend strictly by address', cause);
    case 'FedmeshRoundsInvalidSpend':
      return invalidRecord('spend', `${a[1]} (${a[0]})`, 'must have bits 224..255 zero', cause);
    case 'FedmeshRoundsSpendWithoutParams':
      return invalidRecord('dpParams', `0 (${a[0]}, spend ${a[1]})`, 'a non-zero spend needs declared DP parameters', cause);
    case 'FedmeshRoundsAlreadyCharged':
      return err('CHAIN_ALREADY_CHARGED', `round ${a[0]} was already charged (${a[1]})`, {
        round: num(a[0]),
        chargedHash: a[1] as Hex32,
      });
    case 'FedmeshRoundsChargeMismatch':
      return err('CHAIN_CHARGE_MISMATCH', `round ${a[0]} was charged for ${a[1]}, not ${a[2]}`, {
        round: num(a[0]),
        charged: a[1] as Hex32,
        got: a[2] as Hex32,
      });
    case 'FedmeshRoundsInsufficientSignatures':
      return err('CHAIN_QUORUM_NOT_MET', `${a[0]} signatures, ${a[1]} required`, { got: num(a[0]), required: num(a[1]) });
    case 'FedmeshRoundsInvalidSignature':
      return err('CHAIN_INVALID_SIGNATURE', `signature ${a[0]} is invalid`, { index: num(a[0]) });
    case 'FedmeshRoundsSignerNotInCommittee':
      return err('CHAIN_SIGNER_NOT_IN_COMMITTEE', `${a[0]} is not on the round's committee`, { signer: a[0] as string });
    case 'FedmeshRoundsDuplicateSigner':
      return err('CHAIN_DUPLICATE_SIGNER', `${a[0]} signed twice`, { signer: a[0] as string });
    case 'FedmeshLedgerBudgetExceeded':
      return err('CHAIN_BUDGET_EXCEEDED', `participant ${a[0]} would reach ε ${fixed(a[1])}e-6 over its cap ${a[2]}e-6`, {
        account: a[0] as string,
        epsilon: fixed(a[1]),
        cap: num(a[2]),
      });
    case 'FedmeshStudyClosed':
      return err('CHAIN_STUDY_CLOSED', 'the study is closed: no round opens, and it neither closes nor inherits again', {});
    case 'FedmeshStudyInvalidSuccessor':
      return err('CHAIN_STUDY_INVALID_SUCCESSOR', `a study cannot name itself (${a[0]}) as its successor`, { successor: a[0] as string });
    case 'FedmeshStudyNotNamed':
      return err('CHAIN_STUDY_NOT_NAMED', `study ${a[0]} names ${a[1]} as its successor, not this study`, {
        predecessor: a[0] as string,
        named: a[1] as string,
      });
    case 'FedmeshStudyAlreadyInherits':
      return err('CHAIN_STUDY_ALREADY_INHERITS', `the study already continues ${a[0]}'s budgets`, { predecessor: a[0] as string });
    case 'FedmeshStudyHasMembers':
      return err('CHAIN_STUDY_HAS_MEMBERS', 'a member was registered before inheriting: its budget would have started at zero', {});
    case 'FedmeshStudyDeltaMismatch':
      return err('CHAIN_STUDY_DELTA_MISMATCH', `the predecessor's δ is ${a[1]}e-18, this study's ${a[0]}e-18`, {
        expected: String(a[0]),
        got: String(a[1]),
      });
    case 'FedmeshLedgerCreditsOverflow':
      return err('CHAIN_CREDITS_OVERFLOW', `credits of ${a[0]} would overflow`, { account: a[0] as string });
    default:
      return undefined;
  }
}
