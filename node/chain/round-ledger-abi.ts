/**
 * ABI of contracts/RoundLedger.sol in ethers' human-readable form.
 *
 * Kept in source (not read from artifacts/) so that `EthersChainClient` can be built
 * synchronously and works where the contracts were never compiled, e.g. a node talking to a
 * ledger someone else deployed. test/contracts/round-ledger.test.ts checks that it matches the
 * compiled artifact fragment for fragment, so the two cannot drift apart silently.
 */
export const ROUND_LEDGER_ABI = [
  'constructor(bytes32 initialModelHash_, address[] members_)',
  'error RoundLedgerNotMember(address account)',
  'error RoundLedgerUnexpectedRound(uint64 expected, uint64 got)',
  'error RoundLedgerPrevHashMismatch(bytes32 expected, bytes32 got)',
  'error RoundLedgerInvalidRecord(bytes32 modelHash, uint32 participantCount)',
  'event MemberAdded(address indexed account)',
  'event RoundRecorded(uint64 indexed round, bytes32 prevModelHash, bytes32 modelHash, uint32 participantCount, address indexed recorder)',
  'function recordRound(uint64 round, bytes32 prevModelHash, bytes32 modelHash, uint32 participantCount)',
  'function initialModelHash() view returns (bytes32)',
  'function latestRound() view returns (uint64)',
  'function headModelHash() view returns (bytes32)',
  'function getRound(uint64 round) view returns (tuple(bytes32 prevModelHash, bytes32 modelHash, uint32 participantCount, address recorder))',
  'function isMember(address account) view returns (bool)',
] as const;
