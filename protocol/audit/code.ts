/**
 * Is the code at the audited address FedmeshFederation's? (red team F11 item 3.)
 *
 * The audit replays what the contract checked, but a look-alike — same ABI and events, other
 * code — could skip a check and still emit a consistent stream. So the runtime code at the
 * address (`eth_getCode`) is compared with the compiler's `deployedBytecode` for the contract
 * (and for the FedmeshRegistryLens its constructor deploys, which the audit reads members
 * through), byte for byte except the immutables: their positions come from the compiler's
 * `evm.deployedBytecode.immutableReferences` (Solidity docs, "Compiler Input and Output JSON"),
 * where the compiled object holds zeros and the deployed code the constructor's values. Those
 * values (c_α, δ, m, t, hashes, the lens address) are read as views and checked on their own.
 *
 * The trailing CBOR metadata (its IPFS hash covers the sources) is compared too: a deployment
 * passes only against the very sources it was compiled from.
 */
import { keccak256 } from 'ethers';
import { finding, type LocalFinding } from './findings.js';
import type { CompiledCode } from './types.js';

export type { CompiledCode, ImmutableReference } from './types.js';

const hexBody = (h: string): string => (h.startsWith('0x') || h.startsWith('0X') ? h.slice(2) : h).toLowerCase();

/** `code` (0x hex) with every immutable range zeroed, or undefined when a range lies outside it. */
export function maskImmutables(code: string, refs: CompiledCode['immutableReferences']): string | undefined {
  const body = hexBody(code).split('');
  const bytes = body.length / 2;
  for (const ranges of Object.values(refs)) {
    for (const { start, length } of ranges) {
      if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > bytes) return undefined;
      body.fill('0', 2 * start, 2 * (start + length));
    }
  }
  return `0x${body.join('')}`;
}

/** CODE_MISMATCH for `contract` at `address` unless `runtime` is `compiled` up to its immutables. */
export function checkRuntimeCode(contract: string, address: string, runtime: string, compiled: CompiledCode): LocalFinding | undefined {
  const want = maskImmutables(compiled.deployedBytecode, compiled.immutableReferences);
  const got = maskImmutables(runtime, compiled.immutableReferences);
  const runtimeBytes = hexBody(runtime).length / 2;
  const compiledBytes = hexBody(compiled.deployedBytecode).length / 2;
  if (want !== undefined && got !== undefined && want === got) return undefined;
  let firstDifference: number | null = null;
  if (got !== undefined && want !== undefined) {
    const a = hexBody(got);
    const b = hexBody(want);
    for (let i = 0; i < Math.max(a.length, b.length); i += 2) {
      if (a.slice(i, i + 2) !== b.slice(i, i + 2)) {
        firstDifference = i / 2;
        break;
      }
    }
  }
  return finding(
    'CODE_MISMATCH',
    'error',
    `the code at ${address} is not the compiled ${contract} (${runtimeBytes} bytes against ${compiledBytes}${
      firstDifference !== null ? `, first difference at byte ${firstDifference}` : ', an immutable lies outside it'
    }): the audit cannot rely on the checks that contract makes`,
    {
      contract,
      address,
      runtimeBytes,
      compiledBytes,
      firstDifference,
      runtimeHash: keccak256(runtime === '0x' ? '0x' : `0x${hexBody(runtime)}`),
      compiledHash: keccak256(`0x${hexBody(compiled.deployedBytecode)}`),
    },
  );
}
