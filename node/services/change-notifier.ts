/**
 * Wakes waiters when an inbox stores something. Services that store round traffic (the
 * round inbox, the secure-aggregation inbox) share one notifier, so the driver can wait for
 * a condition that spans both — e.g. "a masked input from every participant that shared
 * keys" — without polling.
 */
export class ChangeNotifier {
  private readonly listeners = new Set<() => void>();

  notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Resolve when `predicate()` holds, re-checked on every notification; reject on abort. */
  waitUntil(predicate: () => boolean, signal: AbortSignal): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        cleanup();
        resolve();
      };
      const onAbort = (): void => {
        cleanup();
        reject(signal.reason);
      };
      const cleanup = (): void => {
        this.listeners.delete(check);
        signal.removeEventListener('abort', onAbort);
      };
      if (signal.aborted) return onAbort();
      this.listeners.add(check);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  clear(): void {
    this.listeners.clear();
  }
}
