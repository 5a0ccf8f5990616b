/**
 * `fedmesh privacy epsilon|noise|plan`: parses flags and delegates to the accountant in
 * protocol/privacy (STYLE.md §12). The only thing added here is the flag name in an argument
 * error, so `--sample-rate 1.5` is reported as `--sample-rate`, not as the API's `sampleRate`.
 */
import type { Command } from 'commander';
import { isFedmeshError } from '../../../protocol/errors.js';
import { type PrivacyArgumentFields, PrivacyError } from '../../../protocol/privacy/errors.js';
import { affordableRounds } from '../../../protocol/privacy/affordable-rounds.js';
import { computeEpsilon, planFederatedDpSgd, planNoiseMultiplier, rdpOrderSet } from '../../../protocol/privacy/index.js';
import { memberPlanInputs } from '../../chain/study.js';
import { loadDeploymentRef } from '../../daemon/setup.js';
import { readManifestFile } from '../../manifest/manifest-file.js';

/** Library parameter → the flag that carries it. */
const FLAG_OF: Readonly<Record<string, string>> = {
  sampleRate: '--sample-rate',
  noiseMultiplier: '--noise-multiplier',
  steps: '--steps',
  delta: '--delta',
  targetEpsilon: '--target-epsilon',
  orders: '--orders',
  epsilon: '--epsilon',
  localEpochs: '--local-epochs',
};

/** Strict number parsing: '' and ' ' are NaN (Number('') is 0), the rest as Number(). */
const num = (v: string): number => (v.trim() === '' ? Number.NaN : Number(v));

function naming<T>(raw: Record<string, unknown>, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isFedmeshError(e, 'PRIVACY_ARGUMENT_INVALID')) {
      const f = e.fields as PrivacyArgumentFields;
      const flag = FLAG_OF[f.field];
      if (flag !== undefined) {
        const given = raw[f.field];
        throw new PrivacyError('PRIVACY_ARGUMENT_INVALID', `${flag} ${JSON.stringify(given ?? f.value)}: ${f.rule}`, { ...f, flag });
      }
    }
    throw e;
  }
}

const write = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

interface EpsilonFlags {
  sampleRate: string;
  noiseMultiplier: string;
  steps: string;
  delta: string;
  orders: string;
  json?: boolean;
}

interface NoiseFlags {
  targetEpsilon: string;
  sampleRate: string;
  steps: string;
  delta: string;
  orders: string;
  json?: boolean;
}

interface PlanFlags {
  manifest?: string;
  rpc?: string;
  deployment?: string;
  member?: string;
  noiseMultiplier: string;
  epsilon?: string;
  sampleRate?: string;
  localEpochs?: string;
  delta?: string;
  orders: string;
  json?: boolean;
}

/** A flag's value, else the manifest's, else a usage error naming both. */
function fromFlagOrManifest(flag: string | undefined, manifestValue: number | undefined, field: string): number {
  if (flag !== undefined) return num(flag);
  if (manifestValue !== undefined) return manifestValue;
  throw new PrivacyError('PRIVACY_ARGUMENT_INVALID', `${FLAG_OF[field] ?? field}: required (or --manifest with a dp target)`, {
    field,
    value: null,
    rule: 'required',
  });
}

/** The member's carried spend, cap and δ when --deployment is given (with --rpc and --member, chain orders). */
async function planInputsOf(flags: PlanFlags) {
  if (flags.deployment === undefined) return undefined;
  for (const [flag, v] of [
    ['--rpc', flags.rpc],
    ['--member', flags.member],
  ] as const) {
    if (v === undefined)
      throw new PrivacyError('PRIVACY_ARGUMENT_INVALID', `${flag}: required with --deployment`, {
        field: flag,
        value: null,
        rule: 'required with --deployment',
        flag,
      });
  }
  if (flags.orders !== 'chain') {
    throw new PrivacyError(
      'PRIVACY_ARGUMENT_INVALID',
      '--orders: must be chain with --deployment (the carried spend is at the on-chain orders)',
      {
        field: 'orders',
        value: flags.orders,
        rule: 'chain with --deployment',
        flag: '--orders',
      },
    );
  }
  const ref = loadDeploymentRef(flags.deployment);
  return memberPlanInputs(flags.rpc!, ref.chainId, ref.address, flags.member!);
}

export function registerPrivacy(program: Command): void {
  const privacy = program
    .command('privacy')
    .description('differential-privacy accounting: RDP of the Poisson-subsampled Gaussian (DP-SGD), see docs/privacy.md');

  privacy
    .command('epsilon')
    .description('epsilon spent by N DP-SGD steps at sampling rate q and noise multiplier sigma, and the optimal Rényi order')
    .requiredOption('--sample-rate <q>', 'Poisson sampling rate q in (0, 1]')
    .requiredOption('--noise-multiplier <sigma>', 'noise std / clipping norm, > 0')
    .requiredOption('--steps <n>', 'number of steps (integer >= 0)')
    .requiredOption('--delta <d>', 'delta in (0, 1)')
    .option('--orders <set>', 'Rényi orders: default (1.1..10.9, 12..63) | chain (the on-chain subset)', 'default')
    .option('--json', 'print one JSON line {"epsilon": …, "order": …}')
    .action((flags: EpsilonFlags) => {
      const spent = naming(flags as unknown as Record<string, unknown>, () =>
        computeEpsilon({
          sampleRate: num(flags.sampleRate),
          noiseMultiplier: num(flags.noiseMultiplier),
          steps: num(flags.steps),
          delta: num(flags.delta),
          orders: rdpOrderSet(flags.orders),
        }),
      );
      if (flags.json === true) {
        write(JSON.stringify({ epsilon: spent.epsilon, order: spent.order }));
        return;
      }
      write(
        `epsilon ${spent.epsilon} at delta ${flags.delta}, optimal order ${spent.order ?? '-'} (${flags.steps} steps, q ${flags.sampleRate}, sigma ${flags.noiseMultiplier}, ${flags.orders} orders)`,
      );
      if (spent.optimalOrderAtEdge) write('note: the optimum is at the edge of the order set; a wider set could give a smaller epsilon');
    });

  privacy
    .command('noise')
    .description('smallest noise multiplier sigma whose epsilon after N steps at rate q is at most the target (bisection)')
    .requiredOption('--target-epsilon <e>', 'target epsilon, > 0')
    .requiredOption('--delta <d>', 'delta in (0, 1)')
    .requiredOption('--sample-rate <q>', 'Poisson sampling rate q in (0, 1]')
    .requiredOption('--steps <n>', 'number of steps (integer >= 1)')
    .option('--orders <set>', 'Rényi orders: default | chain', 'default')
    .option('--json', 'print one JSON line {"noiseMultiplier": …}')
    .action((flags: NoiseFlags) => {
      const plan = naming(flags as unknown as Record<string, unknown>, () =>
        planNoiseMultiplier({
          targetEpsilon: num(flags.targetEpsilon),
          delta: num(flags.delta),
          sampleRate: num(flags.sampleRate),
          steps: num(flags.steps),
          orders: rdpOrderSet(flags.orders),
        }),
      );
      if (flags.json === true) {
        write(JSON.stringify({ noiseMultiplier: plan.noiseMultiplier }));
        return;
      }
      write(
        `noise multiplier ${plan.noiseMultiplier} gives epsilon ${plan.epsilon} <= ${flags.targetEpsilon} at delta ${flags.delta} (order ${plan.order}; ${flags.steps} steps, q ${flags.sampleRate})`,
      );
    });

  privacy
    .command('plan')
    .description('how many rounds a study can afford under an ε budget at noise multiplier σ (and the σ the manifest’s rounds need)')
    .option('--manifest <file>', 'take q, local epochs, δ, ε and rounds from this manifest (flags override)')
    .requiredOption('--noise-multiplier <sigma>', 'noise std / clipping norm, > 0')
    .option('--epsilon <e>', 'the ε budget (default: the manifest’s dp.epsilon)')
    .option('--sample-rate <q>', 'Poisson sampling rate q (default: the manifest’s dp.sampleRate)')
    .option('--local-epochs <n>', 'local epochs per round (default: the manifest’s)')
    .option('--delta <d>', 'δ (default: the manifest’s)')
    .option('--orders <set>', 'Rényi orders: chain (what the contract charges; default) | default', 'chain')
    .option('--deployment <file>', "a study's deployment JSON: start from --member's spend carried into it (earlier studies and this one)")
    .option('--rpc <url>', 'JSON-RPC endpoint of the chain (with --deployment)')
    .option('--member <address>', 'the member whose budget to plan for (with --deployment; its cap is the default ε)')
    .option('--json', 'print one JSON line')
    .action(async (flags: PlanFlags) => {
      const m = flags.manifest !== undefined ? readManifestFile(flags.manifest).manifest : undefined;
      const onChain = await planInputsOf(flags);
      const query = naming(flags as unknown as Record<string, unknown>, () => ({
        epsilon: fromFlagOrManifest(flags.epsilon, onChain?.epsilonCap ?? m?.dp?.epsilon, 'epsilon'),
        delta: fromFlagOrManifest(flags.delta, onChain?.delta ?? m?.dp?.delta, 'delta'),
        sampleRate: fromFlagOrManifest(flags.sampleRate, m?.dp?.sampleRate, 'sampleRate'),
        localEpochs: fromFlagOrManifest(flags.localEpochs, m?.training.localEpochs, 'localEpochs'),
        noiseMultiplier: num(flags.noiseMultiplier),
        orders: rdpOrderSet(flags.orders),
        ...(onChain?.spentRdp !== undefined ? { spentRdp: onChain.spentRdp } : {}),
      }));
      const fit = naming(query as unknown as Record<string, unknown>, () => affordableRounds(query));
      const need =
        m !== undefined
          ? naming(query as unknown as Record<string, unknown>, () =>
              planFederatedDpSgd({
                targetEpsilon: query.epsilon,
                delta: query.delta,
                sampleRate: query.sampleRate,
                rounds: m.rounds,
                localEpochs: query.localEpochs,
                orders: query.orders,
              }),
            )
          : undefined;
      if (flags.json === true) {
        write(
          JSON.stringify({
            rounds: fit.rounds,
            capped: fit.capped,
            epsilonSpent: fit.epsilonSpent,
            epsilonNext: Number.isNaN(fit.epsilonNext) ? null : fit.epsilonNext,
            stepsPerRound: fit.stepsPerRound,
            ...(onChain !== undefined ? { member: flags.member, epsilonCarried: onChain.epsilonSpent } : {}),
            ...(need !== undefined ? { manifestRounds: m!.rounds, noiseMultiplierForManifestRounds: need.noiseMultiplier } : {}),
          }),
        );
        return;
      }
      if (onChain !== undefined) {
        write(
          onChain.spentRdp === undefined
            ? `${flags.member} was never registered in this study or an earlier one of its chain: nothing carried`
            : `${flags.member} carries ε ${onChain.epsilonSpent} spent in this study and the earlier ones of its chain (cap ${onChain.epsilonCap})`,
        );
      }
      write(
        `${fit.capped ? 'at least ' : ''}${fit.rounds}${onChain?.spentRdp !== undefined ? ' more' : ''} rounds fit in ε ${query.epsilon} at δ ${query.delta} with σ ${query.noiseMultiplier}, q ${query.sampleRate}, ` +
          `${query.localEpochs} local epochs (${fit.stepsPerRound} steps a round, ${flags.orders} orders): ε after them ${fit.epsilonSpent.toFixed(4)}` +
          `${fit.capped ? '' : `, one more round would reach ${fit.epsilonNext.toFixed(4)}`}`,
      );
      if (need !== undefined) {
        write(`the manifest's ${m!.rounds} rounds need σ ≥ ${need.noiseMultiplier.toFixed(4)} to stay within ε ${query.epsilon}`);
      }
    });
}
