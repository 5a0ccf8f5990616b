/**
 * Deadline-bounded waits over the Clock port (node/clock.ts).
 */
import type { Clock } from '../clock.js';

/**
 * Run `fn` with a signal that aborts after `ms` (by `clock`) or when `parent` aborts; the
 * timer is cancelled as soon as `fn` settles so no timer outlives the wait.
 */
export async function withDeadline<T>(clock: Clock, ms: number, parent: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const stopTimer = new AbortController();
  const onParent = (): void => ac.abort(parent.reason);
  parent.addEventListener('abort', onParent, { once: true });
  clock.sleep(ms, stopTimer.signal).then(
    () => ac.abort(new DeadlineError(ms)),
    () => {},
  );
  try {
    return await fn(ac.signal);
  } finally {
    stopTimer.abort();
    parent.removeEventListener('abort', onParent);
  }
}

export class DeadlineError extends Error {
  constructor(readonly ms: number) {
    super(`deadline of ${ms} ms passed`);
    this.name = 'DeadlineError';
  }
}

/** Wait until `predicate` holds or `ms` pass; true if it holds. Parent aborts propagate. */
export async function waitFor(
  clock: Clock,
  ms: number,
  parent: AbortSignal,
  wait: (predicate: () => boolean, signal: AbortSignal) => Promise<void>,
  predicate: () => boolean,
): Promise<boolean> {
  if (predicate()) return true;
  if (ms <= 0) return false;
  try {
    await withDeadline(clock, ms, parent, (s) => wait(predicate, s));
    return true;
  } catch (e) {
    if (parent.aborted) throw parent.reason;
    if (e instanceof DeadlineError) return predicate();
    throw e;
  }
}

/**
 * Wait until one of `notifiers` shows `ready()` true, or — when `at` is given — until the clock
 * reaches `at`, whichever comes first (the secure round's driver: a message, an effect's
 * completion or a requested tick). Every timer goes through `clock` and is cancelled when the
 * wait ends; a parent abort rejects with its reason.
 */
export async function waitForChangeOrTime(
  clock: Clock,
  at: number | undefined,
  parent: AbortSignal,
  notifiers: readonly { waitUntil(predicate: () => boolean, signal: AbortSignal): Promise<void> }[],
  ready: () => boolean,
): Promise<void> {
  if (parent.aborted) throw parent.reason;
  const ac = new AbortController();
  const onParent = (): void => ac.abort(parent.reason);
  parent.addEventListener('abort', onParent, { once: true });
  try {
    const waits = notifiers.map((n) => n.waitUntil(ready, ac.signal));
    if (at !== undefined) waits.push(clock.sleep(Math.max(0, at - clock.now()), ac.signal));
    await Promise.race(waits);
  } finally {
    parent.removeEventListener('abort', onParent);
    ac.abort();
  }
}
