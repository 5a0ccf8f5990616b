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
