/**
 * The logger port: services log structured events as `log.info(obj, msg)` without choosing
 * a backend. `createLogger` backs it with pino (JSON lines, one object per event) on stderr,
 * so a node's logs go straight into the operator's log pipeline.
 */
import { pino } from 'pino';

export interface Logger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** JSON-lines logger (pino) to a stream, default stderr (fd 2, written synchronously). */
export function createLogger(level: LogLevel = 'info', bindings: Record<string, unknown> = {}, out?: NodeJS.WritableStream): Logger {
  const base = pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, out ?? pino.destination({ fd: 2, sync: true }));
  return Object.keys(bindings).length > 0 ? base.child(bindings) : base;
}
