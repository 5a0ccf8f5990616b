/**
 * The institution's node configuration: one YAML file, validated at the edge with a zod
 * schema (STYLE.md §11). Every error names the field, the value and the rule. Environment
 * variables may override secrets and URLs (FEDMESH_RPC_URL, FEDMESH_PASSPHRASE_FILE).
 * Relative paths resolve against the config file's folder.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FedmeshError } from '../../protocol/errors.js';
import { defaultKeySetGraceMs, validateKeySetGrace } from '../../protocol/secure-aggregation/committee-member.js';
import { SecAggError } from '../../protocol/secure-aggregation/errors.js';

export const NODE_CONFIG_DEFAULTS = {
  listen: ['/ip4/0.0.0.0/tcp/4001'],
  metricsHost: '127.0.0.1',
  metricsPort: 9464,
  confirmations: 1,
  logLevel: 'info',
  /** Secure aggregation: wait this long after a round opens for every member's keys (ms). */
  keysMs: 10_000,
  /** The committee waits this long for every masked input (ms); rounds normally close early. */
  collectMs: 60_000,
  /** Committee member k steps in k grace periods after member 0 (ms). */
  recordGraceMs: 5_000,
  // rounds.keySetGraceMs (Δ of the key-set omission grace) has no constant: its default is
  // ⌊keysMs/2⌋ (protocol/secure-aggregation/committee-member.ts `defaultKeySetGraceMs`), filled in
  // by parseNodeConfig from the keysMs actually configured.
  /** Before a round, wait up to this long for every active member to be on the gossip mesh (ms). */
  meshWaitMs: 15_000,
  /** Pause between rounds, so that a member that was catching up can join the next one (ms). */
  pauseMs: 1_000,
  /**
   * After learning that a round is open, wait this long before publishing in it (ms): members
   * ignore messages of a round they have not seen opened yet (ROUND_UNKNOWN), so this must
   * exceed the spread of the members' chain polls.
   */
  openSettleMs: 2_000,
  /** How often the node polls the chain (ms). */
  chainPollMs: 1_000,
} as const;

const ROUNDS_DEFAULTS = {
  keysMs: NODE_CONFIG_DEFAULTS.keysMs,
  collectMs: NODE_CONFIG_DEFAULTS.collectMs,
  recordGraceMs: NODE_CONFIG_DEFAULTS.recordGraceMs,
  meshWaitMs: NODE_CONFIG_DEFAULTS.meshWaitMs,
  pauseMs: NODE_CONFIG_DEFAULTS.pauseMs,
  openSettleMs: NODE_CONFIG_DEFAULTS.openSettleMs,
};

const multiaddr = z
  .string()
  .regex(/^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+\/tcp\/\d{1,5}(\/p2p\/\w+)?$/, 'a TCP multiaddr like /ip4/1.2.3.4/tcp/4001[/p2p/<peer id>]');

export const NodeConfigSchema = z
  .object({
    /** Folder with identity.json and ethereum.json (`fedmesh node init`). */
    keystore: z.string().min(1),
    passphraseFile: z.string().min(1).optional(),
    /** The federation manifest; its hash must equal the one recorded on chain. */
    manifest: z.string().min(1),
    /** Where the node keeps models, round state and its privacy-spend cache. */
    stateDir: z.string().min(1),
    network: z
      .object({
        listen: z
          .array(multiaddr)
          .min(1)
          .default([...NODE_CONFIG_DEFAULTS.listen]),
        bootstrap: z.array(multiaddr).default([]),
        mdns: z.boolean().default(false),
      })
      .strict()
      // Optional as a whole, as the guide's table says: every field has a default.
      .default({ listen: [...NODE_CONFIG_DEFAULTS.listen], bootstrap: [], mdns: false }),
    chain: z
      .object({
        rpcUrl: z.string().url('an http(s) or ws(s) URL'),
        deployment: z.string().min(1),
        confirmations: z.number().int().min(1).max(64).default(NODE_CONFIG_DEFAULTS.confirmations),
        pollMs: z.number().int().min(50).max(60_000).default(NODE_CONFIG_DEFAULTS.chainPollMs),
        /**
         * Members' peer id proofs (node/services/round-opener.ts): `require` refuses a member whose
         * stored proof is missing or does not verify; `admin-trust` also maps a member registered
         * without a proof (legacy deployments), with a warning. A failing proof is refused in both.
         */
        peerProofs: z.enum(['require', 'admin-trust']).default('require'),
      })
      .strict(),
    data: z
      .object({
        kind: z.enum(['csv', 'npz', 'png-folder']),
        path: z.string().min(1),
        separator: z.string().min(1).max(4).optional(),
        /** Manifest name → file column name, where they differ. */
        columns: z.record(z.string(), z.string()).optional(),
        /** Manifest name (label or categorical feature) → { file value → manifest value }. */
        values: z.record(z.string(), z.record(z.string(), z.string().min(1))).optional(),
        /** `case-insensitive`: a header matches ignoring case when nothing matches exactly. */
        headerMatch: z.enum(['exact', 'case-insensitive']).default('case-insensitive'),
        missing: z.enum(['drop', 'median']).default('drop'),
        maxBadRowFraction: z.number().min(0).max(1).default(0.05),
      })
      .strict(),
    training: z
      .object({
        /** Overrides of the manifest's local training settings (local only, never shared). */
        batchSize: z.number().int().min(1).optional(),
      })
      .strict()
      .default({}),
    dp: z
      .object({
        enabled: z.boolean().default(true),
        noiseMultiplier: z.number().positive().optional(),
        clipNorm: z.number().positive().optional(),
      })
      .strict()
      .default({ enabled: true }),
    /** Local round timing: deadlines this node waits for (they never change what is valid). */
    rounds: z
      .object({
        keysMs: z.number().int().min(100).default(ROUNDS_DEFAULTS.keysMs),
        collectMs: z.number().int().min(100).default(ROUNDS_DEFAULTS.collectMs),
        recordGraceMs: z.number().int().min(100).default(ROUNDS_DEFAULTS.recordGraceMs),
        meshWaitMs: z.number().int().min(0).default(ROUNDS_DEFAULTS.meshWaitMs),
        pauseMs: z.number().int().min(0).default(ROUNDS_DEFAULTS.pauseMs),
        openSettleMs: z.number().int().min(0).default(ROUNDS_DEFAULTS.openSettleMs),
        /**
         * Δ of the key-set omission grace (committee-member.ts `CommitteeTiming`,
         * docs/secure-aggregation.md "Excluding someone"): as a committee member, forgive a key
         * set that leaves out an advert or share this node first held less than Δ before the
         * turn was due. Integer in [0, keysMs − 1] (checked below against keysMs); absent:
         * ⌊keysMs/2⌋, filled in by parseNodeConfig.
         */
        keySetGraceMs: z.number().optional(),
      })
      .strict()
      // Δ ≥ keysMs would let a turn-0 leader leave out everything that reached a member after
      // its open (F12 reopened): the protocol's own rule, so the message is the protocol's.
      .superRefine((r, ctx) => {
        if (r.keySetGraceMs === undefined) return;
        try {
          validateKeySetGrace(r.keySetGraceMs, r.keysMs);
        } catch (e) {
          if (!(e instanceof SecAggError)) throw e;
          ctx.addIssue({ code: 'custom', message: String(e.fields.rule), path: ['keySetGraceMs'] });
        }
      })
      .default(ROUNDS_DEFAULTS),
    committee: z
      .object({
        // Committees are drawn on chain from every active member (docs/contracts.md), so a node
        // cannot opt out by itself; refusing `false` beats silently ignoring it.
        duty: z
          .boolean()
          .default(true)
          .refine((d) => d, {
            message:
              'must be true: committees are drawn on chain from every active member; to stop serving, ask the admin to suspend the member',
          }),
      })
      .strict()
      .default({ duty: true }),
    ops: z
      .object({
        host: z.string().default(NODE_CONFIG_DEFAULTS.metricsHost),
        port: z.number().int().min(0).max(65535).default(NODE_CONFIG_DEFAULTS.metricsPort),
      })
      .strict()
      .default({ host: NODE_CONFIG_DEFAULTS.metricsHost, port: NODE_CONFIG_DEFAULTS.metricsPort }),
    log: z
      .object({ level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

type ParsedNodeConfig = z.infer<typeof NodeConfigSchema>;
/** The validated config, with the defaults that depend on other fields filled in (rounds.keySetGraceMs). */
export type NodeConfig = Omit<ParsedNodeConfig, 'rounds'> & {
  readonly rounds: ParsedNodeConfig['rounds'] & { readonly keySetGraceMs: number };
};

export interface ConfigIssue {
  readonly field: string;
  readonly value: unknown;
  readonly rule: string;
}

export class NodeConfigError extends FedmeshError<'CONFIG_INVALID' | 'CONFIG_UNREADABLE', { path: string; issues: ConfigIssue[] }> {}

function valueAt(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/** Allowed keys of the object at `path` in the schema, for "did you mean". */
function knownKeys(path: readonly PropertyKey[]): string[] {
  let schema: z.ZodType = NodeConfigSchema;
  for (const k of path) {
    // Unwrap .default()/.optional() and step into an object's field.
    while (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional) schema = schema.unwrap() as z.ZodType;
    if (!(schema instanceof z.ZodObject)) return [];
    const next = (schema.shape as Record<string, z.ZodType>)[String(k)];
    if (next === undefined) return [];
    schema = next;
  }
  while (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional) schema = schema.unwrap() as z.ZodType;
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

/** Levenshtein distance, for suggesting the key a typo meant. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * Config issues from one zod issue. An unknown key names that key (and the nearest allowed one)
 * rather than the enclosing object, whose value may be the whole config (issue 17: a top-level
 * typo dumped the config).
 */
function issuesOf(i: z.core.$ZodIssue, input: unknown): ConfigIssue[] {
  if (i.code === 'unrecognized_keys') {
    const known = knownKeys(i.path);
    return i.keys.map((key) => {
      const near = known.map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) })).sort((a, b) => a.d - b.d)[0];
      const field = [...i.path, key].join('.');
      const hint = near !== undefined && near.d <= Math.max(2, key.length / 3) ? `; did you mean '${near.k}'?` : '';
      return { field, value: valueAt(input, [...i.path, key]), rule: `unknown key (allowed: ${known.join(', ')})${hint}` };
    });
  }
  return [{ field: i.path.join('.') || '(root)', value: valueAt(input, i.path), rule: i.message }];
}

/** Validate a parsed config object; `base` resolves relative paths. */
export function parseNodeConfig(raw: unknown, base: string, env: NodeJS.ProcessEnv = {}, path = '(config)'): NodeConfig {
  const withEnv = structuredClone(raw ?? {}) as Record<string, Record<string, unknown>>;
  if (env.FEDMESH_RPC_URL !== undefined) withEnv.chain = { ...(withEnv.chain ?? {}), rpcUrl: env.FEDMESH_RPC_URL };
  if (env.FEDMESH_PASSPHRASE_FILE !== undefined) (withEnv as Record<string, unknown>).passphraseFile = env.FEDMESH_PASSPHRASE_FILE;
  const res = NodeConfigSchema.safeParse(withEnv);
  if (!res.success) {
    const issues = res.error.issues.flatMap((i) => issuesOf(i, withEnv));
    throw new NodeConfigError(
      'CONFIG_INVALID',
      `${path}: ${issues.map((i) => `${i.field}=${JSON.stringify(i.value)}: ${i.rule}`).join('; ')}`,
      { path, issues },
    );
  }
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const c = res.data;
  return {
    ...c,
    keystore: abs(c.keystore),
    manifest: abs(c.manifest),
    stateDir: abs(c.stateDir),
    ...(c.passphraseFile !== undefined ? { passphraseFile: abs(c.passphraseFile) } : {}),
    chain: { ...c.chain, deployment: abs(c.chain.deployment) },
    data: { ...c.data, path: abs(c.data.path) },
    rounds: { ...c.rounds, keySetGraceMs: c.rounds.keySetGraceMs ?? defaultKeySetGraceMs(c.rounds.keysMs) },
  };
}

export function loadNodeConfig(path: string, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new NodeConfigError('CONFIG_UNREADABLE', `${path}: ${e instanceof Error ? e.message : String(e)}`, { path, issues: [] });
  }
  return parseNodeConfig(raw, dirname(resolve(path)), env, path);
}

/** The commented template `fedmesh node init` writes. */
export function configTemplate(o: { keystore: string; peerId: string; address: string }): string {
  return `# fedmesh node configuration. Reference: docs/operator-guide.md
# This node: peer id ${o.peerId}, Ethereum address ${o.address}.
# Give both to the federation admin to be registered as a member.

# Keystore written by \`fedmesh node init\`. The passphrase comes from --passphrase-file,
# FEDMESH_PASSPHRASE_FILE, FEDMESH_PASSPHRASE, or a prompt.
keystore: ${o.keystore}
# passphraseFile: ./passphrase

# The federation manifest from the admin (JSON or YAML; docs/manifest.md). Its hash must equal
# the one on chain: do not edit it.
manifest: ./manifest.yaml

# Models, round state and the privacy-spend cache live here. Back it up.
stateDir: ./state

network:
  # Open this TCP port to the other members' addresses in your firewall.
  listen: ["/ip4/0.0.0.0/tcp/4001"]
  # Other members' addresses, e.g. /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...
  bootstrap: []
  mdns: false

chain:
  rpcUrl: http://127.0.0.1:8545      # override with FEDMESH_RPC_URL
  deployment: ./deployment.json      # written by \`fedmesh chain deploy\`
  confirmations: 1                   # blocks on top of a transaction before it counts
  pollMs: 1000                       # how often the chain is polled
  peerProofs: require                # or admin-trust: also accept members registered without a peer id proof

data:
  kind: csv                          # csv | npz | png-folder
  path: ./data/site.csv
  # separator: ";"                  # CSV separator (default ,)
  # columns: { age: AGE }            # manifest name -> your column name
  # values: { num: { "0": "0", "2": "1" } }  # manifest name -> { your value -> the manifest's value }
  headerMatch: case-insensitive      # or exact
  missing: drop                      # drop | median (the manifest's public fill, else your own median)
  maxBadRowFraction: 0.05            # \`fedmesh data check\` lists the bad rows

dp:
  enabled: true                      # DP-SGD with the manifest's target

committee:
  duty: true                         # serve on round committees when selected (must be true: committees are drawn on chain)

rounds:                              # local deadlines (ms); see docs/operator-guide.md
  keysMs: 10000
  collectMs: 60000
  recordGraceMs: 5000
  # keySetGraceMs: 5000              # committee: forgive a key set omitting what arrived < this before the turn (default keysMs/2)
  meshWaitMs: 15000
  pauseMs: 1000
  openSettleMs: 2000

ops:
  host: 127.0.0.1                    # /metrics, /health, /status
  port: 9464

log:
  level: info                        # debug | info | warn | error
`;
}
