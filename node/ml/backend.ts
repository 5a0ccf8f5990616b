/**
 * Choosing the TensorFlow.js backend for this process.
 *
 * Order, fastest first: the native TensorFlow bindings with CUDA (`@tensorflow/tfjs-node-gpu`),
 * the native bindings on CPU (`@tensorflow/tfjs-node`), the WebAssembly backend with SIMD
 * (`@tensorflow/tfjs-backend-wasm`), then the pure-JS `cpu` backend. The native packages are never
 * dependencies of fedmesh (they need a prebuilt libtensorflow that cannot be installed everywhere);
 * they are used only when the operator has installed them. cpu is a last resort: on the project's
 * CNN shapes the cpu backend's conv kernels are 10-1000x slower than wasm's
 * (bench/conv-backprop-filter.bench.ts): a 1,024-image CNN epoch takes ~0.5 s on wasm, while on
 * cpu the two filter-gradient kernels alone cost ~1.1 s per batch of 32, i.e. over 30 s.
 *
 * The decision (which backend to try, in what order, when to stop, what to report) lives in
 * `chooseBackend`, which takes loader functions and imports nothing, so it is unit-tested with
 * fakes. `selectBackend` binds it to the real loaders and caches the outcome: tfjs has one engine
 * per process, shared by every simulated peer, so the backend is chosen once.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FedmeshError } from '../../protocol/errors.js';
import { registerConv2DBackpropFilter } from './kernels/conv2d-backprop-filter.js';

export type BackendChoice = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** Fastest first. */
export const BACKEND_PREFERENCE: readonly BackendChoice[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

/** Name under which each choice is registered with tfjs (`tf.getBackend()`). Both tfjs-node
 *  packages register their backend as 'tensorflow'. */
export const TFJS_BACKEND_NAME: Readonly<Record<BackendChoice, string>> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

export interface BackendAttempt {
  name: BackendChoice;
  ok: boolean;
  reason?: string;
}

export interface BackendSelection {
  /** The chosen backend, in fedmesh's naming (`TFJS_BACKEND_NAME` maps it to tfjs's). */
  name: BackendChoice;
  /** Every backend attempted, in order, ending with the chosen one. */
  tried: BackendAttempt[];
}

/** Makes a backend the active tfjs backend, or rejects with the reason it cannot. */
export type BackendLoader = () => Promise<void>;
export type BackendLoaders = Readonly<Record<BackendChoice, BackendLoader>>;

export interface SelectBackendOptions {
  /** Use exactly this backend; failing to initialise it is an error, not a fallback. */
  prefer?: BackendChoice;
  log?: (msg: string) => void;
}

export type BackendErrorCode = 'BACKEND_UNAVAILABLE' | 'BACKEND_ALREADY_SELECTED';

export class BackendError extends FedmeshError<
  BackendErrorCode,
  { backend: BackendChoice | 'any'; reason?: string; tried?: BackendAttempt[]; selected?: BackendChoice }
> {}

/** The backends to try, in order: just `prefer` when given, else `BACKEND_PREFERENCE`. Pure. */
export function backendOrder(prefer?: BackendChoice): BackendChoice[] {
  if (prefer !== undefined) {
    if (!BACKEND_PREFERENCE.includes(prefer)) {
      throw new BackendError('BACKEND_UNAVAILABLE', `unknown backend '${String(prefer)}'`, {
        backend: prefer,
        reason: `must be one of ${BACKEND_PREFERENCE.join(', ')}`,
      });
    }
    return [prefer];
  }
  return [...BACKEND_PREFERENCE];
}

/**
 * Tries the loaders in `backendOrder(prefer)` order and stops at the first that resolves.
 * Imports nothing itself; everything backend-specific is in `loaders`.
 * @throws BackendError BACKEND_UNAVAILABLE naming the backend (or 'any') and the reason(s).
 */
export async function chooseBackend(loaders: BackendLoaders, prefer?: BackendChoice): Promise<BackendSelection> {
  const tried: BackendAttempt[] = [];
  for (const name of backendOrder(prefer)) {
    try {
      await loaders[name]();
      tried.push({ name, ok: true });
      return { name, tried };
    } catch (e) {
      tried.push({ name, ok: false, reason: reasonOf(e) });
    }
  }
  const last = tried[tried.length - 1];
  if (prefer !== undefined) {
    throw new BackendError('BACKEND_UNAVAILABLE', `backend '${prefer}' failed to initialise: ${last?.reason ?? 'unknown'}`, {
      backend: prefer,
      reason: last?.reason ?? 'unknown',
      tried,
    });
  }
  throw new BackendError(
    'BACKEND_UNAVAILABLE',
    `no tfjs backend could be initialised (${tried.map((t) => `${t.name}: ${t.reason}`).join('; ')})`,
    { backend: 'any', tried },
  );
}

function reasonOf(e: unknown): string {
  if (e instanceof Error) {
    // Node's ERR_MODULE_NOT_FOUND is the normal case for the optional native packages; say so
    // plainly instead of the full resolver message.
    const code = (e as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return 'not installed';
    return e.message;
  }
  return String(e);
}

/**
 * Directory holding the `.wasm` binaries, as an absolute file path with a trailing separator.
 *
 * Gotcha: tfjs-backend-wasm's `setWasmPaths(prefix)` is a string *prefix* (`prefix + fileName`,
 * backend_wasm.js `getPathToWasmBinary`), so the trailing separator is required: without it
 * Node looks for `.../disttfjs-backend-wasm-simd.wasm`, init aborts and `setBackend` resolves
 * false. In Node the emscripten loader reads the file with `fs.readFileSync` and accepts either
 * a plain path or a `file://` URL; we pass a path. Node would also find the binaries with no
 * `setWasmPaths` at all (emscripten defaults to its own `__dirname`), but that breaks as soon as
 * the code is bundled, so the directory is resolved from the package's entry
 * (dist/tf-backend-wasm.node.js) instead of hard-coding `node_modules/...`.
 */
export function wasmBinaryDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep;
}

async function activate(tfName: string): Promise<void> {
  // setBackend resolves false (after a console warning) when the backend's factory throws.
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new Error(`tf.setBackend('${tfName}') returned false (initialisation failed)`);
  await tf.ready();
}

/**
 * Imports an optional package. The specifier is a variable so TypeScript does not try to resolve
 * a package that is deliberately not a dependency.
 */
async function importOptional(specifier: string): Promise<void> {
  await import(specifier);
}

async function loadTfjsNode(pkg: string): Promise<void> {
  await importOptional(pkg);
  // A tfjs-node install carries its own @tensorflow/tfjs dependency; if npm did not dedupe it,
  // the 'tensorflow' backend is registered on *that* engine, not ours.
  if (tf.findBackendFactory('tensorflow') === null) {
    throw new Error(`${pkg} loaded but registered no 'tensorflow' backend with this @tensorflow/tfjs (duplicate tfjs-core install?)`);
  }
  await activate('tensorflow');
}

/** The real loaders. Exported for tests that want to check a single backend initialises. */
export const DEFAULT_LOADERS: BackendLoaders = {
  'tensorflow-gpu': () => loadTfjsNode('@tensorflow/tfjs-node-gpu'),
  tensorflow: () => loadTfjsNode('@tensorflow/tfjs-node'),
  wasm: async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // Must precede the first setBackend('wasm'): the binary is fetched on initialisation.
    wasm.setWasmPaths(wasmBinaryDir());
    registerConv2DBackpropFilter('wasm');
    await activate('wasm');
  },
  cpu: () => activate('cpu'),
};

let selection: Promise<BackendSelection> | undefined;

/**
 * Selects and activates the process-wide tfjs backend (see module header for the order).
 * Idempotent: later calls return the first call's result and re-activate that backend if
 * something switched tfjs away from it. Concurrent first calls share one attempt.
 * @throws BackendError BACKEND_UNAVAILABLE when `prefer` (or every backend) fails;
 *         BACKEND_ALREADY_SELECTED when `prefer` names a backend other than the one chosen.
 */
export async function selectBackend(opts: SelectBackendOptions = {}): Promise<BackendSelection> {
  const { prefer, log } = opts;
  if (selection === undefined) {
    const attempt = chooseBackend(DEFAULT_LOADERS, prefer);
    selection = attempt;
    try {
      const sel = await attempt;
      const skipped = sel.tried.filter((t) => !t.ok).map((t) => `${t.name}: ${t.reason}`);
      log?.(`ml: tfjs backend '${sel.name}'${skipped.length > 0 ? ` (skipped ${skipped.join('; ')})` : ''}`);
      return sel;
    } catch (e) {
      selection = undefined; // let a later call retry, e.g. with another `prefer`
      throw e;
    }
  }
  const sel = await selection;
  if (prefer !== undefined && prefer !== sel.name) {
    throw new BackendError(
      'BACKEND_ALREADY_SELECTED',
      `backend '${sel.name}' is already selected for this process; cannot switch to '${prefer}'`,
      { backend: prefer, selected: sel.name },
    );
  }
  const tfName = TFJS_BACKEND_NAME[sel.name];
  if (tf.getBackend() !== tfName) await activate(tfName);
  return sel;
}
