/**
 * One peer's side of a plaintext FedAvg round (McMahan et al. 2017): the round machine's
 * plaintext strategy (protocol/round-machine/plaintext-*.ts) run by the one driver loop
 * (./round-drive.ts `driveRound`, which also runs ./secure-round.ts). The machine decides *what*
 * to do and *when*, the loop feeds events and executes effects in order; this file adds only what
 * the plaintext strategy has of its own:
 *   - what its inbox delivers: the updates the round inbox accepted (`received` with `updates`),
 *     read only by a committee member;
 *   - its effect ports: the admission check of an update's record line (`admit-update`), and a
 *     refused message's count as a debug log record;
 *   - the roles' results for node/services/round-driver.ts.
 *
 * Round r (t = 0 when this peer opened it):
 *   participant  train │ sign its entry │ charge its ledger │ publish its update
 *   committee    collect until every member's update or the collect deadline │ admit each │
 *                FedAvg (then the server optimizer) │ record at its turn │ announce if recorded
 */
import type { ModelWeights } from '../../protocol/model.js';
import { createPlainRoundState, type PlainRoundConfig, type PlainRoundState, type Trained } from '../../protocol/round-machine/index.js';
import type { CommitteeStage } from '../../protocol/round.js';
import { committeeResult, driveRound, participantResult, type RoundEffectPorts, type RoundInboxFeed } from './round-drive.js';

/** The plaintext strategy's configuration and the node's effect ports (./round-drive.ts). */
export interface PlainRoundEnv extends RoundEffectPorts {
  readonly cfg: PlainRoundConfig;
  /** Why the contract would refuse this update's record line (undefined: it would accept it); required when cfg.admits. */
  readonly admit?: (participant: string, dpParams: bigint, entrySignature: Uint8Array | undefined) => Promise<string | undefined>;
}

/**
 * The plaintext strategy's inbox as the driver loop reads it: every update stored for this round
 * that the machine has not been given yet (only the committee reads others' updates).
 */
function plainFeed(env: PlainRoundEnv, state: PlainRoundState): RoundInboxFeed {
  const { inbox } = env;
  const round = env.cfg.plan.round;
  const delivered = new Set<string>();
  return {
    notifier: inbox.notifier,
    next: () => {
      if (state.committee === undefined) return undefined;
      const updates = [];
      for (const u of inbox.updatesFor(round).values()) {
        if (delivered.has(u.sender)) continue;
        delivered.add(u.sender);
        updates.push({ sender: u.sender, payloadHash: u.payloadHash, update: u.update });
      }
      return updates.length > 0 ? { type: 'received', messages: [], inputs: [], updates } : undefined;
    },
    arrived: () => state.committee !== undefined && inbox.updatesFor(round).size !== delivered.size,
  };
}

/** Run `state` to its end on the round machine's one driver loop (./round-drive.ts). */
function drive(env: PlainRoundEnv, state: PlainRoundState, signal: AbortSignal, train?: () => Promise<Trained>): Promise<void> {
  const round = env.cfg.plan.round;
  return driveRound({
    round,
    state,
    ports: env,
    strategy: {
      count: (code, detail) => env.log.debug({ round, code, ...detail }, 'plaintext round: message refused'),
      admitUpdate: (participant, dpParams, entrySignature) => env.admit!(participant, dpParams, entrySignature),
      feed: plainFeed(env, state),
    },
    signal,
    ...(train !== undefined ? { train } : {}),
  });
}

/**
 * The participant: train, sign its entry, charge its ledger, publish its update. `train` runs
 * local training (not called when the peer drops before sending anything); a failure of any
 * step rejects, as the round's failure.
 */
export async function runPlainParticipant(
  env: PlainRoundEnv,
  train: () => Promise<{ loss: number; weights: () => ModelWeights; dpParams?: bigint }>,
  signal: AbortSignal,
): Promise<{ trainLoss?: number }> {
  const state = createPlainRoundState(env.cfg, { participant: true });
  await drive(env, state, signal, train);
  return participantResult(state);
}

/** The committee member: collect, admit, aggregate, record, announce. */
export async function runPlainCommittee(
  env: PlainRoundEnv,
  signal: AbortSignal,
): Promise<{ path: readonly CommitteeStage[]; recorded: boolean }> {
  const state = createPlainRoundState(env.cfg, { committee: true });
  await drive(env, state, signal);
  const { recorded } = committeeResult(state);
  return { path: state.committee!.stages.path, recorded };
}
