/**
 * Scenario files for `fedmesh simulate --scenario FILE.yaml` (docs/simulation-lab.md).
 *
 * A scenario is a YAML mapping whose keys are the simulation options (simulations/options.ts),
 * in camelCase. Two groups may be nested for readability and are flattened here:
 *   dp: { epsilon, delta, noiseMultiplier, clipNorm, sampleRate } → dpEpsilon, dpDelta, …
 *   committee: { size, threshold }                                → committeeSize, threshold
 * Precedence: defaults < scenario file < command-line flags. Validation is the options
 * schema's, so an error names the field, the value and the rule whichever source set it.
 * A relative .csv/.npz data set path is resolved against the scenario file's folder.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseSimulationOptions, type SimulationOptions } from './options.js';

const DP_KEYS: Record<string, string> = {
  epsilon: 'dpEpsilon',
  delta: 'dpDelta',
  noiseMultiplier: 'dpNoiseMultiplier',
  clipNorm: 'dpClipNorm',
  sampleRate: 'dpSampleRate',
};
const COMMITTEE_KEYS: Record<string, string> = { size: 'committeeSize', threshold: 'threshold' };

function configError(field: string, value: unknown, rule: string): ConfigError {
  return new ConfigError('CONFIG_INVALID', `${field}=${JSON.stringify(value)}: ${rule}`, { issues: [{ field, value, rule }] });
}

function flattenGroup(out: Record<string, unknown>, group: string, value: unknown, keys: Record<string, string>): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw configError(group, value, `a mapping with keys ${Object.keys(keys).join(', ')}`);
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const flat = keys[k];
    if (flat === undefined) throw configError(`${group}.${k}`, v, `unknown key; expected one of ${Object.keys(keys).join(', ')}`);
    out[flat] = v;
  }
}

/** Parse scenario YAML text into option input (not yet validated). `baseDir` resolves relative data paths. */
export function parseScenario(text: string, source = 'scenario.yaml', baseDir?: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw configError('(scenario)', source, `not valid YAML: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw configError('(scenario)', source, 'a YAML mapping of options');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (k === 'dp') flattenGroup(out, 'dp', v, DP_KEYS);
    else if (k === 'committee') flattenGroup(out, 'committee', v, COMMITTEE_KEYS);
    else out[k] = v;
  }
  if (baseDir !== undefined && typeof out.dataset === 'string' && /\.(csv|npz)$/i.test(out.dataset) && !isAbsolute(out.dataset)) {
    out.dataset = resolve(baseDir, out.dataset);
  }
  // Your own model's folder is relative to the scenario file too (issue 16).
  if (baseDir !== undefined && typeof out.modelPath === 'string' && !isAbsolute(out.modelPath))
    out.modelPath = resolve(baseDir, out.modelPath);
  return out;
}

export function loadScenario(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw configError('scenario', path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return { ...parseScenario(text, path, dirname(resolve(path))), scenarioFile: path };
}

/** Defaults < scenario < flags; flags that are undefined do not override. */
export function resolveSimulationOptions(flags: Record<string, unknown>, scenarioPath?: string): SimulationOptions {
  const base = scenarioPath !== undefined ? loadScenario(scenarioPath) : {};
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
  return parseSimulationOptions(merged);
}

/** One `--sweep key=v1,v2,...` axis. Values are parsed as YAML scalars (numbers, booleans, strings). */
export interface SweepAxis {
  readonly key: string;
  readonly values: readonly unknown[];
}

export function parseSweep(spec: string): SweepAxis {
  const eq = spec.indexOf('=');
  if (eq <= 0 || eq === spec.length - 1) throw configError('sweep', spec, 'key=v1,v2,... (e.g. partition=iid,dirichlet:0.5)');
  const key = spec.slice(0, eq).trim();
  const values = spec
    .slice(eq + 1)
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '')
    .map((v) => parseYaml(v) as unknown);
  if (values.length === 0) throw configError('sweep', spec, 'at least one value');
  return { key, values };
}

/** Set `key` (dotted for nested options, e.g. attackers.fraction) on a copy of `input`. */
export function withOption(input: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const parts = key.split('.');
  const out: Record<string, unknown> = { ...input };
  let cur = out;
  for (let i = 0; i < parts.length - 1; i++) {
    const k = parts[i]!;
    const next = cur[k];
    cur[k] = next !== null && typeof next === 'object' && !Array.isArray(next) ? { ...(next as Record<string, unknown>) } : {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
  return out;
}

/** Every combination of the axes' values (the first axis varies slowest). */
export function sweepGrid(axes: readonly SweepAxis[]): Record<string, unknown>[] {
  let grid: Record<string, unknown>[] = [{}];
  for (const a of axes) grid = grid.flatMap((g) => a.values.map((v) => ({ ...g, [a.key]: v })));
  return grid;
}
