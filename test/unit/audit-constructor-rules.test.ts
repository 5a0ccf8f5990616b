/**
 * protocol/audit/constructor-rules.ts (red team F19): every rule FedmeshFederation's constructor
 * enforces on an immutable, checked again on the views, one CONSTRUCTOR_RULE_BROKEN per rule
 * broken. The end-to-end case (t = 1 at m = 3 written over a real deployment's runtime) is
 * test/contracts/attack-audit-immutables.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { checkConstructorRules } from '../../protocol/audit/constructor-rules.js';
import type { ChainViews } from '../../protocol/audit/types.js';
import { cAlpha } from '../../protocol/chain/budget.js';

const good: ChainViews = {
  block: 1,
  initialModelHash: `0x${'c0'.repeat(32)}`,
  headModelHash: `0x${'c0'.repeat(32)}`,
  committeeSize: 3,
  threshold: 2,
  cAlpha: cAlpha(1e-5),
  delta: 10n ** 13n,
  inputDuration: 600,
  finalizeDuration: 600,
  seedDelay: 0,
  totalCredits: 0n,
  members: new Map(),
};
const rules = (v: Partial<ChainViews>) => checkConstructorRules({ ...good, ...v }).map((f) => [f.severity, f.evidence.rule]);

describe("the constructor's rules on the views", () => {
  it('a deployment within every rule has no finding, at the bounds too', () => {
    expect(rules({})).toEqual([]);
    expect(rules({ committeeSize: 32, threshold: 17, seedDelay: 64, delta: 10n ** 18n - 1n })).toEqual([]);
    expect(rules({ committeeSize: 1, threshold: 1, delta: 1n })).toEqual([]);
  });

  it('each broken rule is one error naming it', () => {
    const committee = '1 ≤ t ≤ m ≤ 32 and 2t > m';
    for (const [m, t] of [
      [3, 1],
      [4, 2],
      [3, 0],
      [3, 4],
      [33, 17],
    ] as const) {
      expect(rules({ committeeSize: m, threshold: t })).toEqual([['error', committee]]);
    }
    expect(rules({ inputDuration: 0 })).toEqual([['error', 'inputDuration > 0 and finalizeDuration > 0']]);
    expect(rules({ finalizeDuration: 0 })).toEqual([['error', 'inputDuration > 0 and finalizeDuration > 0']]);
    expect(rules({ seedDelay: 65 })).toEqual([['error', 'seedDelay ≤ 64']]);
    expect(rules({ initialModelHash: `0x${'0'.repeat(64)}` })).toEqual([['error', 'initialModelHash ≠ 0']]);
    expect(rules({ delta: 0n })).toEqual([['error', '0 < δ < 1']]);
    expect(rules({ delta: 10n ** 18n })).toEqual([['error', '0 < δ < 1']]);
    expect(rules({ threshold: 1, seedDelay: 100 })).toEqual([
      ['error', committee],
      ['error', 'seedDelay ≤ 64'],
    ]);
  });
});
