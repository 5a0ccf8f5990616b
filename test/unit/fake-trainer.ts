/**
 * A deterministic stand-in for the local trainer in node-level tests that exercise the round
 * machinery, not learning: peer `index` adds (index + 1) · 0.01 to every weight per round, so
 * every participant's contribution is distinct and the aggregate is easy to predict.
 */
import type { LabelledData } from '../../protocol/data.js';
import type { ModelWeights } from '../../protocol/model.js';
import type { LocalTrainer } from '../../node/services/round-driver.js';

export const INITIAL_WEIGHTS: ModelWeights = { tensors: [{ shape: [4], data: Float32Array.from([0.1, -0.2, 0.3, 0.4]) }] };

export class FakeTrainer implements LocalTrainer {
  private w: ModelWeights = INITIAL_WEIGHTS;
  constructor(private readonly index: number) {}
  getWeights(): ModelWeights {
    return { tensors: this.w.tensors.map((t) => ({ shape: [...t.shape], data: t.data.slice() })) };
  }
  setWeights(w: ModelWeights): void {
    this.w = { tensors: w.tensors.map((t) => ({ shape: [...t.shape], data: Float32Array.from(t.data) })) };
  }
  async train(): Promise<{ loss: number; steps: number; seconds: number }> {
    this.w = { tensors: this.w.tensors.map((t) => ({ shape: [...t.shape], data: t.data.map((v) => v + (this.index + 1) * 0.01) })) };
    return { loss: 0.1, steps: 1, seconds: 0 };
  }
}

/** `n` empty samples (the fake trainer ignores them; n sets the plaintext FedAvg weight). */
export const fakeData = (n: number): LabelledData => ({ x: new Float32Array(n), y: new Uint8Array(n), n, featureShape: [1] });
