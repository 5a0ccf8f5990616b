/**
 * The compiled FedmeshFederation and FedmeshRegistryLens the audit compares the deployed code
 * with (protocol/audit/code.ts, red team F11): `evm.deployedBytecode.object` and its
 * `immutableReferences` from the compiler output Hardhat keeps (build-info), compiled from
 * contracts/ if stale (node/chain/hardhat.ts `loadHardhat`, as deployment does). Read once per
 * process.
 */
import type { CompiledCode } from '../../protocol/audit/types.js';
import { loadHardhat } from '../chain/hardhat.js';
import { AuditError } from './errors.js';

/** The contracts whose code the audit checks, by name, with their source file. */
export const AUDITED_CONTRACTS: Readonly<Record<string, string>> = {
  FedmeshFederation: 'contracts/FedmeshFederation.sol',
  FedmeshRegistryLens: 'contracts/FedmeshRegistryLens.sol',
};

interface DeployedBytecodeOutput {
  readonly object: string;
  readonly immutableReferences?: CompiledCode['immutableReferences'];
}

let compiled: Promise<Record<string, CompiledCode>> | undefined;

export function compiledAuditCode(): Promise<Record<string, CompiledCode>> {
  compiled ??= (async () => {
    let hre: Awaited<ReturnType<typeof loadHardhat>>;
    try {
      hre = await loadHardhat();
    } catch (e) {
      throw new AuditError('AUDIT_CONNECTION', `compiling contracts/ failed: ${(e as Error).message.split('\n')[0]}`, {
        operation: 'compile contracts',
        reason: (e as Error).message.split('\n')[0]!,
      });
    }
    const out: Record<string, CompiledCode> = {};
    for (const [name, source] of Object.entries(AUDITED_CONTRACTS)) {
      const info = await hre.artifacts.getBuildInfo(`${source}:${name}`);
      const evm = (info?.output.contracts[source]?.[name] as { evm?: { deployedBytecode?: DeployedBytecodeOutput } } | undefined)?.evm
        ?.deployedBytecode;
      if (evm === undefined) {
        throw new AuditError('AUDIT_CONNECTION', `no compiler output for ${source}:${name}`, {
          operation: 'read build-info',
          reason: `no deployedBytecode for ${name}`,
        });
      }
      out[name] = { deployedBytecode: `0x${evm.object}`, immutableReferences: evm.immutableReferences ?? {} };
    }
    return out;
  })();
  compiled.catch(() => {
    compiled = undefined;
  });
  return compiled;
}
