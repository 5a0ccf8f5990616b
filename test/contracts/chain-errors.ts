/** Assertions on the chain port's typed errors (node/chain/errors.ts), shared by the contract tests. */
import { expect } from 'vitest';
import { isChainError } from '../../node/chain/errors.js';

/** Awaits `promise`, expects a ChainError with `code`, and returns it for field checks. */
export async function expectChainError(promise: Promise<unknown>, code: string) {
  const e = await promise.then(
    () => expect.unreachable(`expected ChainError ${code}, but the call succeeded`),
    (err: unknown) => err,
  );
  expect(isChainError(e), `expected a ChainError, got ${String(e)}`).toBe(true);
  if (!isChainError(e)) throw e;
  expect(e.code).toBe(code);
  return e;
}
