/**
 * Decorators that feed the node's Prometheus metrics without touching the services they
 * wrap (STYLE.md §2): a Gossip port that counts bytes and verdicts by topic kind, action and
 * reason code (STYLE.md §9), and a LocalTrainer that records loss, phase time and, on a TTY,
 * prints a progress line.
 */
import type { LabelledData } from '../../protocol/data.js';
import type { ModelWeights } from '../../protocol/model.js';
import type { Gossip, GossipHandler, GossipValidator } from '../net/gossip.js';
import type { NodeMetrics } from '../ops/metrics.js';
import type { LocalTrainer, TrainOptions } from '../services/round-driver.js';

/** `/fedmesh/<federation>/<kind>/<version>` → kind. */
export function topicKind(topic: string): string {
  const parts = topic.split('/');
  return parts.length >= 4 ? (parts[3] ?? 'unknown') : 'unknown';
}

export function meteredGossip(inner: Gossip, metrics: NodeMetrics): Gossip {
  return {
    get self() {
      return inner.self;
    },
    get verdicts() {
      return inner.verdicts;
    },
    subscribe(topic: string, validator: GossipValidator, handler: GossipHandler): void {
      const kind = topicKind(topic);
      inner.subscribe(
        topic,
        async (msg) => {
          metrics.bytes.inc({ direction: 'received' }, msg.data.length);
          const v = await validator(msg);
          metrics.verdicts.inc({ topic: kind, action: v.action, code: v.code });
          return v;
        },
        handler,
      );
    },
    unsubscribe: (topic) => inner.unsubscribe(topic),
    async publish(topic: string, data: Uint8Array): Promise<void> {
      await inner.publish(topic, data);
      metrics.bytes.inc({ direction: 'sent' }, data.length);
    },
    subscribers: (topic) => inner.subscribers(topic),
  };
}

export interface TrainingProgress {
  /** Called when local training starts and ends (a TTY line, a log line). */
  start(n: number, epochs: number): void;
  done(loss: number, seconds: number): void;
}

/** One status line on a TTY, rewritten in place; nothing when stderr is not a terminal. */
export function ttyProgress(out: NodeJS.WriteStream = process.stderr): TrainingProgress | undefined {
  if (!out.isTTY) return undefined;
  let timer: NodeJS.Timeout | undefined;
  let started = 0;
  const spin = ['|', '/', '-', '\\'];
  return {
    start(n, epochs) {
      started = Date.now();
      let i = 0;
      timer = setInterval(() => {
        out.write(
          `\r${spin[i++ % 4]} training locally: ${n} examples, ${epochs} epoch(s), ${((Date.now() - started) / 1000).toFixed(1)} s`,
        );
      }, 200);
      timer.unref();
    },
    done(loss, seconds) {
      if (timer !== undefined) clearInterval(timer);
      out.write(`\r✓ local training done: loss ${loss.toFixed(4)} in ${seconds.toFixed(1)} s${' '.repeat(20)}\n`);
    },
  };
}

export function meteredTrainer(inner: LocalTrainer, metrics: NodeMetrics, progress?: TrainingProgress): LocalTrainer {
  return {
    getWeights: (): ModelWeights => inner.getWeights(),
    setWeights: (w: ModelWeights): void => inner.setWeights(w),
    async train(data: LabelledData, opts: TrainOptions) {
      progress?.start(data.n, opts.epochs);
      const res = await metrics.timePhase('train', () => inner.train(data, opts));
      progress?.done(res.loss, res.seconds);
      return res;
    },
  };
}
