/**
 * Minimal structured logger port (pino-compatible call shape: `log.info(obj, msg)`), so
 * services log without choosing a backend. The operator-node issue plugs in pino.
 */
export interface Logger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/** JSON-lines logger to a stream (default stderr). */
export function createLogger(
  level: LogLevel = 'info',
  bindings: Record<string, unknown> = {},
  out: NodeJS.WritableStream = process.stderr,
): Logger {
  const emit = (lvl: LogLevel) => (obj: Record<string, unknown>, msg: string) => {
    if (ORDER[lvl] < ORDER[level]) return;
    out.write(`${JSON.stringify({ level: lvl, time: new Date().toISOString(), ...bindings, ...obj, msg })}\n`);
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (b) => createLogger(level, { ...bindings, ...b }, out),
  };
}
