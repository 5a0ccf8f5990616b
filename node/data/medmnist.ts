/**
 * Loader for the bundled PneumoniaMNIST balanced subset (data/medmnist, CC BY 4.0, see its
 * README): 28×28 grayscale chest X-rays, label 1 = pneumonia. Pixels are scaled to [0, 1];
 * features have shape [28, 28, 1] for the trainer's CNN.
 */
import { fileURLToPath } from 'node:url';
import { DataError, type LabelledData } from '../../protocol/data.js';
import { loadNpz } from './npz.js';

export const PNEUMONIA_MNIST_NPZ = fileURLToPath(new URL('../../data/medmnist/pneumoniamnist_balanced.npz', import.meta.url));
export type MedMnistSplit = 'train' | 'val' | 'test';

export function loadPneumoniaMnist(split: MedMnistSplit, path = PNEUMONIA_MNIST_NPZ): LabelledData {
  const npz = loadNpz(path);
  const images = npz.get(`${split}_images`);
  const labels = npz.get(`${split}_labels`);
  const bad = (why: string): DataError => new DataError('DATA_PARSE', `${path}: ${why}`, { source: path, split });
  if (images === undefined || labels === undefined) throw bad(`missing ${split}_images or ${split}_labels`);
  if (images.descr !== '|u1' || labels.descr !== '|u1') throw bad('images and labels must be uint8');
  const [n, h, w] = images.shape;
  if (images.shape.length !== 3 || n === undefined || h === undefined || w === undefined) throw bad('images must have shape (N, H, W)');
  if (labels.data.length !== n) throw bad(`${labels.data.length} labels for ${n} images`);
  const x = new Float32Array(images.data.length);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i]! / 255;
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = labels.data[i]!;
    if (v !== 0 && v !== 1)
      throw new DataError('DATA_BAD_LABEL', `${path}: ${split} label ${i} is ${v}`, { source: path, index: i, value: v });
    y[i] = v;
  }
  return { x, y, n, featureShape: [h, w, 1] };
}
