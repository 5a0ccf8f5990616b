/**
 * A participant's declared DP-SGD parameters for one round, as one uint256 in the round record
 * (contracts/IFedmeshRounds.sol `Participant.dpParams`), so that anyone can recompute the
 * round's RDP spend from the chain alone (docs/privacy.md, docs/auditor-guide.md).
 *
 * Layout (most significant first), all unsigned fixed point:
 *
 *     bits 128..159  steps            DP-SGD steps this round (integer, ≥ 1)
 *     bits  96..127  clipNorm C       units of 1e-6
 *     bits  64..95   noiseMultiplier  σ in units of 1e-6
 *     bits   0..63   sampleRate q     units of 1e-15 (q ∈ (0, 1])
 *
 * 0 means "no DP-SGD this round" and must come with a zero spend. The spend that goes on
 * chain is always computed from the *decoded* parameters (`declaredSpend`), so a participant,
 * the committee and an auditor derive the same packed word however the original doubles
 * rounded. Encoding rounds σ down and q up (both make the recorded spend larger or equal, so
 * the encoding can only over-count privacy loss, never under-count it); C is rounded to
 * nearest (it does not enter the accountant).
 */
import { computeRdp } from '../privacy/rdp.js';
import { encodeRdp, ONCHAIN_RDP_ORDERS } from './budget.js';
import { invalidValue } from './errors.js';

export interface DeclaredDpParams {
  /** q: Poisson sampling rate per step, in (0, 1]. */
  readonly sampleRate: number;
  /** σ: noise standard deviation in units of the clipping norm, > 0. */
  readonly noiseMultiplier: number;
  /** C: per-example clipping norm, > 0. */
  readonly clipNorm: number;
  /** DP-SGD steps taken this round (integer ≥ 1). */
  readonly steps: number;
}

const Q_SCALE = 1_000_000_000_000_000n; // 1e15
const MICRO = 1_000_000n;
const U32_MAX = (1n << 32n) - 1n;
const U64_MAX = (1n << 64n) - 1n;

/** No DP-SGD declared. */
export const NO_DP_PARAMS = 0n;

function toUnits(value: number, scale: bigint, mode: 'floor' | 'ceil' | 'round'): bigint {
  // Exact enough: the scaled values stay far below 2^53 for σ, C < 4295 and q ≤ 1 (q·1e15 < 2^53).
  const scaled = value * Number(scale);
  const r = mode === 'floor' ? Math.floor(scaled) : mode === 'ceil' ? Math.ceil(scaled) : Math.round(scaled);
  return BigInt(r);
}

/** Packs declared parameters; throws ONCHAIN_INVALID_VALUE naming the field that does not fit. */
export function encodeDpParams(p: DeclaredDpParams): bigint {
  if (!(typeof p.sampleRate === 'number' && p.sampleRate > 0 && p.sampleRate <= 1))
    throw invalidValue('dpParams.sampleRate', p.sampleRate, 'must be in (0, 1]');
  if (!(typeof p.noiseMultiplier === 'number' && p.noiseMultiplier >= 1e-6 && p.noiseMultiplier <= 4294))
    throw invalidValue('dpParams.noiseMultiplier', p.noiseMultiplier, 'must be in [1e-6, 4294]');
  if (!(typeof p.clipNorm === 'number' && p.clipNorm >= 1e-6 && p.clipNorm <= 4294))
    throw invalidValue('dpParams.clipNorm', p.clipNorm, 'must be in [1e-6, 4294]');
  if (!(Number.isInteger(p.steps) && p.steps >= 1 && p.steps <= 0xffffffff))
    throw invalidValue('dpParams.steps', p.steps, 'must be an integer in [1, 2^32 − 1]');
  const q = toUnits(p.sampleRate, Q_SCALE, 'ceil');
  const sigma = toUnits(p.noiseMultiplier, MICRO, 'floor');
  const clip = toUnits(p.clipNorm, MICRO, 'round');
  return (BigInt(p.steps) << 128n) | (clip << 96n) | (sigma << 64n) | (q > Q_SCALE ? Q_SCALE : q);
}

/** Unpacks a declared word; undefined for NO_DP_PARAMS; throws for a malformed word. */
export function decodeDpParams(word: bigint): DeclaredDpParams | undefined {
  if (word === NO_DP_PARAMS) return undefined;
  if (word < 0n || word >> 160n !== 0n) throw invalidValue('dpParams', word, 'bits above 160 must be zero');
  const q = word & U64_MAX;
  const sigma = (word >> 64n) & U32_MAX;
  const clip = (word >> 96n) & U32_MAX;
  const steps = (word >> 128n) & U32_MAX;
  if (q === 0n || q > Q_SCALE) throw invalidValue('dpParams.sampleRate', q, 'must be in (0, 1e15] units of 1e-15');
  if (sigma === 0n) throw invalidValue('dpParams.noiseMultiplier', sigma, 'must be > 0');
  if (clip === 0n) throw invalidValue('dpParams.clipNorm', clip, 'must be > 0');
  if (steps === 0n) throw invalidValue('dpParams.steps', steps, 'must be ≥ 1');
  return {
    sampleRate: Number(q) / Number(Q_SCALE),
    noiseMultiplier: Number(sigma) / Number(MICRO),
    clipNorm: Number(clip) / Number(MICRO),
    steps: Number(steps),
  };
}

/**
 * The packed RDP spend (protocol/chain/budget.ts `encodeRdp`, rounded up per lane) of a
 * declared word: 0n for NO_DP_PARAMS. Participant, committee and auditor all call this.
 */
export function declaredSpend(word: bigint): bigint {
  const p = decodeDpParams(word);
  if (p === undefined) return 0n;
  return encodeRdp(computeRdp({ sampleRate: p.sampleRate, noiseMultiplier: p.noiseMultiplier, steps: p.steps }, ONCHAIN_RDP_ORDERS));
}
