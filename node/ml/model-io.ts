/**
 * tfjs Layers models on disk (issue 16): the `model.json` + weight files that
 * `model.save('file://DIR')` (tfjs-node) or the Keras converter (`tensorflowjs_converter
 * --input_format keras`) write, read and written here with plain node:fs so no native tfjs-node
 * is needed (tfjs's own `file://` handler lives in tfjs-node).
 *
 * Format (tfjs `io.ModelJSON`): `{ modelTopology, weightsManifest: [{ paths, weights: [{name,
 * shape, dtype}] }], format?, generatedBy?, convertedBy? }`; the weight files of each group are
 * concatenated in `paths` order and the specs index into that buffer. float32 only (quantised or
 * other dtypes are refused: federated averaging is on float32 tensors).
 *
 * Limits before parsing: model.json at most MAX_MODEL_JSON_BYTES and the weights at most
 * MAX_WEIGHT_BYTES — a model that large could not be federated over gossip anyway.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { hash256, toHex0x, utf8 } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/manifest.js';
import { TrainerError } from './errors.js';

/** model.json size cap: topology JSON of a few hundred layers is well under this. */
export const MAX_MODEL_JSON_BYTES = 4 * 1024 * 1024;
/** Total weight bytes cap (64 MiB = 16 M float32 parameters). */
export const MAX_WEIGHT_BYTES = 64 * 1024 * 1024;
const WEIGHTS_FILE = 'weights.bin';

function refuse(field: string, value: unknown, rule: string): TrainerError {
  return new TrainerError('TRAINER_SPEC_INVALID', `${field} = ${JSON.stringify(value)}: ${rule}`, { field, value, rule });
}

/** Reads `dir/model.json` (or the given .json path) and its weight files into model artifacts. */
export function readModelArtifacts(path: string): tf.io.ModelArtifacts {
  const jsonPath = path.endsWith('.json') ? path : join(path, 'model.json');
  let size: number;
  try {
    size = statSync(jsonPath).size;
  } catch (e) {
    throw refuse('model', jsonPath, `cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (size > MAX_MODEL_JSON_BYTES) throw refuse('model', jsonPath, `model.json larger than ${MAX_MODEL_JSON_BYTES} bytes`);
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(readFileSync(jsonPath, 'utf8')) as tf.io.ModelJSON;
  } catch (e) {
    throw refuse('model', jsonPath, `not JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || typeof json.modelTopology !== 'object' || !Array.isArray(json.weightsManifest)) {
    throw refuse('model', jsonPath, 'a tfjs Layers model.json with modelTopology and weightsManifest');
  }
  const base = resolve(dirname(jsonPath));
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  let total = 0;
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      const file = resolve(base, p);
      // Weight paths stay inside the model's folder (a model file must not read arbitrary files).
      if (!file.startsWith(base + sep)) throw refuse('model.weightsManifest.paths', p, "inside the model's folder");
      const bytes = readFileSync(file);
      total += bytes.length;
      if (total > MAX_WEIGHT_BYTES) throw refuse('model', jsonPath, `weights larger than ${MAX_WEIGHT_BYTES} bytes`);
      buffers.push(bytes);
    }
    for (const w of group.weights) {
      if ((w.dtype ?? 'float32') !== 'float32' || w.quantization !== undefined) {
        throw refuse(`weight ${w.name}`, w.dtype, 'float32, unquantised');
      }
      specs.push(w);
    }
  }
  const data = new Uint8Array(total);
  let off = 0;
  for (const b of buffers) {
    data.set(b, off);
    off += b.length;
  }
  const need = specs.reduce((s, w) => s + 4 * w.shape.reduce((a, d) => a * d, 1), 0);
  if (need !== total) throw refuse('model', jsonPath, `weight specs need ${need} bytes, the files hold ${total}`);
  return { modelTopology: json.modelTopology, weightSpecs: specs, weightData: data.buffer };
}

/** A LayersModel from artifacts (async: tfjs deserialises and loads weights asynchronously). */
export async function loadLayersModel(artifacts: tf.io.ModelArtifacts): Promise<tf.LayersModel> {
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

/** Writes `model` as `dir/model.json` + `dir/weights.bin` (the tfjs-node `file://` layout). */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      writeModelArtifacts(a, dir);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

/**
 * Writes artifacts as `dir/model.json` + one `dir/weights.bin`: the same topology, weight specs
 * and weight bytes, so `artifactsHash(readModelArtifacts(dir))` is the artifacts' own hash
 * (an own model's source copied into an export folder keeps the manifest's `sourceHash`).
 */
export function writeModelArtifacts(a: tf.io.ModelArtifacts, dir: string): void {
  mkdirSync(dir, { recursive: true });
  const json: tf.io.ModelJSON = {
    modelTopology: a.modelTopology as tf.io.ModelJSON['modelTopology'],
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: 'fedmesh',
    weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: a.weightSpecs ?? [] }],
  };
  writeFileSync(join(dir, 'model.json'), `${JSON.stringify(json)}\n`);
  writeFileSync(join(dir, WEIGHTS_FILE), weightBytes(a));
}

/**
 * The architecture-and-initial-weights hash of a model on disk: SHA-256 of the canonical JSON of
 * {topology, weight specs} followed by the weight bytes. Two members with the same hash build
 * the same network from the same starting point (frozen base layers included).
 */
export function artifactsHash(a: tf.io.ModelArtifacts): `0x${string}` {
  const head = utf8(canonicalJson({ topology: a.modelTopology, specs: a.weightSpecs }));
  const data = weightBytes(a);
  const all = new Uint8Array(head.length + data.length);
  all.set(head);
  all.set(data, head.length);
  return toHex0x(hash256(all));
}

/** The artifacts' weight bytes as one buffer (tfjs may hand them over in several). */
export function weightBytes(a: tf.io.ModelArtifacts): Uint8Array {
  if (a.weightData === undefined) return new Uint8Array(0);
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(a.weightData));
}

export const modelDirName = (path: string): string => basename(path.endsWith('.json') ? dirname(path) : path);
