/**
 * The secure-aggregation stages (Bonawitz et al., CCS 2017, §4, Figure 4: rounds 0–4, with
 * the committee in the server's role), one explicit machine per role (STYLE.md §4):
 *
 *   ADVERTISE_KEYS ─▶ SHARE_KEYS ─▶ MASKED_INPUT ─▶ UNMASK ─▶ DONE        (any ─▶ FAILED)
 *
 * participant: advertise c_i, s_i │ share b_i, s_i^SK to the committee │ publish y_i │
 *              wait for the result │ adopted
 * committee member: collect keys │ decrypt its shares │ collect inputs, sign its view │
 *              agree on U, reveal, reconstruct, unmask │ sum computed
 *
 * Which message each stage accepts is listed on the machines (participant.ts,
 * committee-member.ts); anything else throws StageError STAGE_UNEXPECTED naming the current
 * and expected stages, as Flower's `check_stage` does for SecAgg+.
 */
import { StageMachine } from '../stage-machine.js';

export enum SecAggStage {
  AdvertiseKeys = 'advertise-keys',
  ShareKeys = 'share-keys',
  MaskedInput = 'masked-input',
  Unmask = 'unmask',
  Done = 'done',
  Failed = 'failed',
}

const S = SecAggStage;

const EDGES: Readonly<Record<SecAggStage, readonly SecAggStage[]>> = {
  [S.AdvertiseKeys]: [S.ShareKeys, S.Failed],
  [S.ShareKeys]: [S.MaskedInput, S.Failed],
  [S.MaskedInput]: [S.Unmask, S.Failed],
  [S.Unmask]: [S.Done, S.Failed],
  [S.Done]: [],
  [S.Failed]: [],
};

export function secAggMachine(role: 'participant' | 'committee', round: number, self: string): StageMachine<SecAggStage> {
  return new StageMachine<SecAggStage>(`secagg-${role}[r=${round},${self.slice(-6)}]`, S.AdvertiseKeys, EDGES);
}
