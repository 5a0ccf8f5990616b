/**
 * Reads the deployment JSON that `fedmesh chain deploy` writes (node/chain/deployment.ts
 * `DeploymentFile`) into the auditor's typed deployment, validated at the edge (STYLE.md §11).
 */
import { readFile } from 'node:fs/promises';
import { getAddress, isAddress } from 'ethers';
import { z } from 'zod';
import type { Hex32 } from '../../protocol/chain/record.js';
import type { AuditDeployment } from '../../protocol/audit/types.js';
import { usageError } from './errors.js';

const decimal = z.string().regex(/^-?\d+$/, 'a decimal integer string');

const DeploymentSchema = z.object({
  chainId: decimal,
  addresses: z.object({ FedmeshFederation: z.string().refine((a) => isAddress(a), 'a 20-byte hex address') }),
  deployBlock: z.number().int().min(0),
  initialModelHash: z.string().regex(/^0x[0-9a-fA-F]{64}$/, '0x and 64 hex digits'),
  delta: z.number().gt(0).lt(1),
  cAlpha: z.array(decimal).length(8),
  m: z.number().int().min(1),
  t: z.number().int().min(1),
  manifestHash: z
    .string()
    .regex(/^0x[0-9a-fA-F]{64}$/, '0x and 64 hex digits')
    .optional(),
  /** The earlier studies this one continues (`fedmesh chain deploy --continues`), oldest first. */
  studies: z
    .array(z.object({ address: z.string().refine((a) => isAddress(a), 'a 20-byte hex address'), deployBlock: z.number().int().min(0) }))
    .optional(),
});

export function parseDeployment(json: unknown, source = 'deployment'): AuditDeployment {
  const res = DeploymentSchema.safeParse(json);
  if (!res.success) {
    const i = res.error.issues[0]!;
    throw usageError(`${source}: ${i.path.join('.') || '(file)'}`, undefined, i.message);
  }
  const d = res.data;
  return {
    chainId: BigInt(d.chainId),
    address: getAddress(d.addresses.FedmeshFederation),
    deployBlock: d.deployBlock,
    initialModelHash: d.initialModelHash.toLowerCase() as Hex32,
    m: d.m,
    t: d.t,
    delta: d.delta,
    cAlpha: d.cAlpha.map((c) => BigInt(c)),
    ...(d.manifestHash !== undefined ? { manifestHash: d.manifestHash.toLowerCase() as Hex32 } : {}),
    ...(d.studies !== undefined
      ? { studies: d.studies.map((st) => ({ address: getAddress(st.address), deployBlock: st.deployBlock })) }
      : {}),
  };
}

export async function readDeployment(path: string): Promise<AuditDeployment> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw usageError('--deployment', path, `a readable JSON file (${(e as Error).message})`);
  }
  return parseDeployment(json, path);
}
