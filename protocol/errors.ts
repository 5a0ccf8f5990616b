/**
 * Typed errors for fedmesh.
 *
 * Every error carries a stable `code` (never branch on `message`) and typed `fields`
 * naming what was wrong (STYLE.md §10, after Lodestar's `LodestarError`).
 */
export class FedmeshError<C extends string = string, F extends Record<string, unknown> = Record<string, unknown>> extends Error {
  readonly code: C;
  readonly fields: F;

  constructor(code: C, message: string, fields: F, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = new.target.name;
    this.code = code;
    this.fields = fields;
  }

  toJSON(): { name: string; code: C; message: string; fields: F } {
    return { name: this.name, code: this.code, message: this.message, fields: this.fields };
  }
}

/** True when `e` is a FedmeshError, optionally with the given code. */
export function isFedmeshError<C extends string>(e: unknown, code?: C): e is FedmeshError<C> {
  return e instanceof FedmeshError && (code === undefined || e.code === code);
}
