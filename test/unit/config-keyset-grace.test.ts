/**
 * The key-set omission grace Δ as a setting (issue 13 follow-up): `rounds.keySetGraceMs` in the
 * node config and `--key-set-grace-ms` / `keySetGraceMs` in `fedmesh simulate`. Validated at the
 * edge with the protocol's rule (an integer in [0, keysMs − 1], committee-member.ts
 * `validateKeySetGrace`), default ⌊keysMs/2⌋, and carried to the committee member's timing:
 * the member built from the configured value forgives exactly what arrived less than Δ before
 * the turn was due (docs/secure-aggregation.md "Excluding someone").
 */
import { Command } from 'commander';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configTemplate, NodeConfigError, parseNodeConfig } from '../../node/config/node-config.js';
import { registerSimulate } from '../../node/cli/commands/simulate.js';
import { committeeTiming } from '../../node/services/secure-round.js';
import { SecAggCommitteeMember, type TurnClock } from '../../protocol/secure-aggregation/committee-member.js';
import type { SecAggError } from '../../protocol/secure-aggregation/errors.js';
import { ConfigError, keySetGraceOf, parseSimulationOptions } from '../../simulations/options.js';
import { config, crypto, testSign, testVerify } from './secagg-helpers.js';
import { setupRound } from './secagg-round-harness.js';

const template = parse(configTemplate({ keystore: './keystore', peerId: '12D3KooWtest', address: '0xabc' }));
const withRounds = (rounds: Record<string, unknown>) => ({ ...template, rounds: { ...template.rounds, ...rounds } });

function configIssues(raw: unknown): NodeConfigError['fields']['issues'] {
  try {
    parseNodeConfig(raw, '/x', {}, 'config.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(NodeConfigError);
    expect((e as NodeConfigError).code).toBe('CONFIG_INVALID');
    return (e as NodeConfigError).fields.issues;
  }
  return expect.unreachable('config accepted');
}

describe('rounds.keySetGraceMs (node config)', () => {
  it('defaults to ⌊keysMs/2⌋ of the keysMs actually configured; an explicit value is kept', () => {
    expect(parseNodeConfig(template, '/x').rounds.keySetGraceMs).toBe(5_000);
    expect(parseNodeConfig(withRounds({ keysMs: 3_001 }), '/x').rounds.keySetGraceMs).toBe(1_500);
    expect(parseNodeConfig(withRounds({ keySetGraceMs: 0 }), '/x').rounds.keySetGraceMs).toBe(0);
    expect(parseNodeConfig(withRounds({ keySetGraceMs: 9_999 }), '/x').rounds.keySetGraceMs).toBe(9_999);
    // The commented line in the template is the default, so uncommenting it changes nothing.
    expect(configTemplate({ keystore: 'k', peerId: 'p', address: 'a' })).toContain('# keySetGraceMs: 5000');
  });

  it('refuses Δ outside [0, keysMs − 1] or not an integer, naming the field, the value and the rule', () => {
    for (const [rounds, value] of [
      [{ keySetGraceMs: 10_000 }, 10_000],
      [{ keysMs: 2_000, keySetGraceMs: 5_000 }, 5_000],
      [{ keySetGraceMs: -1 }, -1],
      [{ keySetGraceMs: 2.5 }, 2.5],
    ] as const) {
      const issues = configIssues(withRounds(rounds));
      expect(issues).toHaveLength(1);
      const keysMs = 'keysMs' in rounds ? rounds.keysMs : 10_000;
      expect(issues[0]).toEqual({
        field: 'rounds.keySetGraceMs',
        value,
        rule: `integer in [0, keysMs − 1 = ${keysMs - 1}]`,
      });
    }
    expect(configIssues(withRounds({ keySetGraceMs: '5000' }))[0]).toMatchObject({ field: 'rounds.keySetGraceMs', value: '5000' });
  });
});

describe('keySetGraceMs (fedmesh simulate)', () => {
  it('the CLI flag parses into the option the schema validates; default ⌊keysMs/2⌋', () => {
    const program = new Command();
    registerSimulate(program);
    const cmd = program.commands.find((c) => c.name() === 'simulate')!;
    cmd.parseOptions(['--keys-ms', '4000', '--key-set-grace-ms', '1500']);
    const flags = cmd.opts();
    expect(flags).toMatchObject({ keysMs: 4_000, keySetGraceMs: 1_500 });
    const o = parseSimulationOptions({ keysMs: flags.keysMs, keySetGraceMs: flags.keySetGraceMs });
    expect(keySetGraceOf(o)).toBe(1_500);
    expect(keySetGraceOf(parseSimulationOptions({}))).toBe(5_000);
    expect(keySetGraceOf(parseSimulationOptions({ keysMs: 801 }))).toBe(400);
  });

  it('refuses Δ ≥ keysMs, negative or fractional with a ConfigError naming the field and the rule', () => {
    for (const [input, value] of [
      [{ keySetGraceMs: 10_000 }, 10_000],
      [{ keysMs: 1_000, keySetGraceMs: 1_000 }, 1_000],
      [{ keySetGraceMs: -3 }, -3],
      [{ keySetGraceMs: 0.5 }, 0.5],
    ] as const) {
      let err: unknown;
      try {
        parseSimulationOptions(input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const keysMs = 'keysMs' in input ? input.keysMs : 10_000;
      expect((err as ConfigError).fields.issues).toEqual([
        { field: 'keySetGraceMs', value, rule: `integer in [0, keysMs − 1 = ${keysMs - 1}]` },
      ]);
    }
    // A CLI integer parser turns "abc" into NaN: refused, not silently defaulted.
    expect(() => parseSimulationOptions({ keySetGraceMs: Number.NaN })).toThrow(ConfigError);
  });
});

describe('the configured Δ reaches the committee member', () => {
  const KEYS_MS = 10_000;
  const LATE = 'peer-006';

  /**
   * A (5, 3) round; members open at 0, key deadline (turn 0 due) at KEYS_MS. Every advert reaches
   * every member at 100, except LATE's, which reaches members 1–4 at `arrival` and never the
   * leader, so the leader's U_1 omits it. Members are built as round-driver.ts builds them: with
   * `committeeTiming` of the node's settings (keysMs, keySetGraceMs from the parsed config).
   */
  function refusals(graceMs: number, arrival: number): Record<string, SecAggError> {
    const cfg = parseNodeConfig(withRounds({ keysMs: KEYS_MS, keySetGraceMs: graceMs }), '/x');
    const timing = committeeTiming({ keysMs: cfg.rounds.keysMs, keySetGraceMs: cfg.rounds.keySetGraceMs });
    const r = setupRound({ n: 8, m: 5, t: 3, config: config(), seed: 'config-grace' });
    const members = r.committee.map(
      (id) =>
        new SecAggCommitteeMember(
          r.ctx,
          id,
          r.keys.get(id)!.encryption.secretKey,
          { crypto, sign: testSign(id), verify: testVerify },
          timing,
        ),
    );
    for (const part of r.participants.values()) for (const a of r.adverts) part.addAdvert(a);
    const shares = [...r.participants.values()].filter((p) => p.self !== LATE).map((p) => p.shareKeys());
    members.forEach((m, i) => {
      m.beginShares();
      for (const a of r.adverts) if (a.sender !== LATE || i > 0) m.addAdvert(a, a.sender === LATE ? arrival : 100);
      for (const s of shares) m.addShareKeys(s, 100);
    });
    const proposal = members[0]!.proposeKeySet(0);
    expect(proposal.advertised).not.toContain(LATE);
    const clock: TurnClock = { now: KEYS_MS, turnStart: (turn) => (turn === 0 ? 0 : Number.POSITIVE_INFINITY), turnDue: () => KEYS_MS };
    const refused: Record<string, SecAggError> = {};
    for (const m of members.slice(1)) {
      try {
        m.onKeySetProposal(proposal, clock);
      } catch (e) {
        refused[m.self] = e as SecAggError;
      }
    }
    return refused;
  }

  it('an advert first held exactly Δ before the turn is refused (naming Δ); one held Δ − 1 ms before is forgiven', () => {
    for (const graceMs of [1_234, 7_000]) {
      const refused = Object.values(refusals(graceMs, KEYS_MS - graceMs));
      expect(refused).toHaveLength(4);
      for (const e of refused) {
        expect(e.code).toBe('SECAGG_BAD_PROPOSAL');
        expect(e.fields).toMatchObject({ reason: 'omits-held-advert', participants: [LATE], graceMs, cutoff: KEYS_MS - graceMs });
      }
      expect(refusals(graceMs, KEYS_MS - graceMs + 1)).toEqual({});
    }
  });

  it('the default Δ of an unset config is ⌊keysMs/2⌋ at the member too', () => {
    const cfg = parseNodeConfig(withRounds({ keysMs: KEYS_MS }), '/x');
    expect(committeeTiming({ keysMs: cfg.rounds.keysMs, keySetGraceMs: cfg.rounds.keySetGraceMs })).toEqual({ keySetGraceMs: 5_000 });
    expect(committeeTiming({ keysMs: 3_001 })).toEqual({ keySetGraceMs: 1_500 });
    expect(() => committeeTiming({ keysMs: 3_000, keySetGraceMs: 3_000 })).toThrow(expect.objectContaining({ code: 'SECAGG_BAD_CONFIG' }));
  });
});
