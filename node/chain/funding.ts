/**
 * Gas money for members: what a study costs a member, funding members from the deployer on a
 * local chain, and the node's start-up check that its account can pay (issue 17: an unfunded
 * node started anyway and logged a raw ethers "insufficient funds" every 30 s).
 *
 * Gas figures are `npm run bench:gas` (docs/contracts.md, "Gas"): openRound 252 307 gas;
 * finalizeRound 264 001 gas with 8 participants and 15 380 gas per further participant. They
 * are rounded up here, as a margin for storage-warmth differences between rounds.
 */
import { formatEther, type Provider, type Signer } from 'ethers';
import { FedmeshError } from '../../protocol/errors.js';

export const ROUND_GAS = {
  /** openRound: stores the round and its committee. */
  open: 260_000n,
  /** finalizeRound without participants (the fixed part: 264 001 − 8 × 15 380, rounded up). */
  finalizeBase: 145_000n,
  /** finalizeRound per participant (ledger word, cap read, EIP-712 hash, event). */
  finalizePerParticipant: 16_000n,
} as const;

/** Test ether each member gets on a local chain (its accounts are public: never a real network). */
export const LOCAL_MEMBER_FUNDING_WEI = 10n ** 19n;

/** Hardhat's chain id: `fedmesh chain start` and the in-process network. */
export const LOCAL_CHAIN_ID = 31337n;

export interface StudyCost {
  /** Gas of one round's transactions (one openRound and one finalizeRound with every member). */
  readonly roundGas: bigint;
  /** All rounds: an upper bound on what any one member pays (it pays only the rounds it opens or finalizes). */
  readonly studyGas: bigint;
  readonly gasPriceWei: bigint;
  readonly roundWei: bigint;
  readonly studyWei: bigint;
}

/** Gas and wei of `rounds` rounds with `members` participants at `gasPriceWei`. */
export function studyCost(rounds: number, members: number, gasPriceWei: bigint): StudyCost {
  const roundGas = ROUND_GAS.open + ROUND_GAS.finalizeBase + ROUND_GAS.finalizePerParticipant * BigInt(members);
  const studyGas = roundGas * BigInt(rounds);
  return { roundGas, studyGas, gasPriceWei, roundWei: roundGas * gasPriceWei, studyWei: studyGas * gasPriceWei };
}

/** The price a transaction sent now would pay per gas (EIP-1559 max fee, else the legacy price). */
export async function currentGasPrice(provider: Provider): Promise<bigint> {
  const fee = await provider.getFeeData();
  return fee.maxFeePerGas ?? fee.gasPrice ?? 0n;
}

export interface UnfundedFields {
  readonly address: string;
  readonly balanceWei: string;
  readonly roundWei: string;
  readonly studyWei: string;
  readonly rounds: number;
  readonly gasPriceWei: string;
  readonly [key: string]: unknown;
}

export class FundingError extends FedmeshError<'NODE_ACCOUNT_UNFUNDED', UnfundedFields> {}

/**
 * Refuses (NODE_ACCOUNT_UNFUNDED) an account that cannot pay for one round's transactions; the
 * error names its balance and what the whole study may cost it. Returns the estimate otherwise,
 * for the start-up log.
 */
export async function checkAccountFunded(
  provider: Provider,
  address: string,
  o: { readonly rounds: number; readonly members: number },
): Promise<StudyCost & { readonly balanceWei: bigint }> {
  const [balanceWei, gasPriceWei] = await Promise.all([provider.getBalance(address), currentGasPrice(provider)]);
  const cost = studyCost(o.rounds, o.members, gasPriceWei);
  if (balanceWei === 0n || balanceWei < cost.roundWei) {
    throw new FundingError(
      'NODE_ACCOUNT_UNFUNDED',
      `account ${address} holds ${formatEther(balanceWei)} ETH; one round's transactions cost up to ${formatEther(cost.roundWei)} ETH ` +
        `(${cost.roundGas} gas at ${gasPriceWei} wei/gas) and the study's ${o.rounds} rounds up to ${formatEther(cost.studyWei)} ETH: ` +
        'send the chain currency to this address (docs/operator-guide.md, "Running on a real chain")',
      {
        address,
        balanceWei: balanceWei.toString(),
        roundWei: cost.roundWei.toString(),
        studyWei: cost.studyWei.toString(),
        rounds: o.rounds,
        gasPriceWei: gasPriceWei.toString(),
      },
    );
  }
  return { ...cost, balanceWei };
}

/** Sends `amountWei` from `signer` to each address, one confirmed transaction after another. */
export async function fundMembers(signer: Signer, addresses: readonly string[], amountWei: bigint): Promise<void> {
  for (const to of addresses) {
    const tx = await signer.sendTransaction({ to, value: amountWei });
    await tx.wait();
  }
}
