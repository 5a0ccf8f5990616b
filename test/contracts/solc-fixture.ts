/**
 * Compiles a small contract written inside a test (an attacker's relay or forwarder) with the
 * solc-js the project already uses for its own contracts (hardhat.config.ts), so attack tests
 * deploy real bytecode without a fixture file per attacker.
 */
import { createRequire } from 'node:module';

/** solc-js (no type declarations ship with it). */
const solc = createRequire(import.meta.url)('solc') as { compile(input: string): string };

/** ABI and creation bytecode of contract `name` in `source`; throws with the compiler's errors. */
export function compileContract(name: string, source: string): { abi: unknown[]; bytecode: string } {
  const file = `${name}.sol`;
  const out = JSON.parse(
    solc.compile(
      JSON.stringify({
        language: 'Solidity',
        sources: { [file]: { content: source } },
        settings: { outputSelection: { '*': { [name]: ['abi', 'evm.bytecode.object'] } } },
      }),
    ),
  ) as {
    contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
    errors?: { severity: string; message: string }[];
  };
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('\n'));
  const c = out.contracts?.[file]?.[name];
  if (c === undefined) throw new Error(`solc produced no ${name}`);
  return { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` };
}
