/**
 * Runtime polyfills that must load before any libp2p import.
 *
 * Node 20 lacks `Promise.withResolvers` (ES2024, shipped in Node 22). libp2p 3.x and its
 * dependencies (it-*, @libp2p/utils) call it when opening streams; without it every
 * stream dial is reset. Import this module first in every entry point (bin/fedmesh.mjs,
 * test/setup.ts) — ES module evaluation order guarantees it runs before later imports.
 */
declare global {
  interface PromiseConstructor {
    withResolvers<T>(): {
      promise: Promise<T>;
      resolve: (value: T | PromiseLike<T>) => void;
      reject: (reason?: unknown) => void;
    };
  }
}

if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

export {};
