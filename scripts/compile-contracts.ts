// Compiles chain/contracts/*.sol with solc-js (the `solc` npm package: no compiler download) into chain/artifacts/<Name>.json,
// which is committed. Run `npx tsx scripts/compile-contracts.ts` after changing a contract; a test fails until you do.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT_DIR } from '../config';

// solc-js ships no type declarations: the two functions used here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const solc = require('solc') as { version(): string; compile(input: string): string };

const CONTRACTS_DIR = path.join(ROOT_DIR, 'chain', 'contracts');
export const ARTIFACTS_DIR = path.join(ROOT_DIR, 'chain', 'artifacts');

/**
 * Cancun, not the compiler's or Hardhat's newest: the local node (Hardhat 2, Osaka by default) runs it, and so do the
 * chains durapay targets; a newer target would emit opcodes an older chain rejects.
 */
export const EVM_VERSION = 'cancun';
const OPTIMIZER = { enabled: true, runs: 200 };

export interface ContractArtifact {
  contractName: string;
  sourceName: string;
  compiler: { version: string; evmVersion: string; optimizer: typeof OPTIMIZER };
  abi: unknown[];
  /** Creation bytecode, 0x-prefixed. */
  bytecode: string;
}

interface SolcOutput {
  errors?: { severity: 'error' | 'warning' | 'info'; formattedMessage: string }[];
  contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
}

/** Every contract of chain/contracts, compiled afresh; throws with solc's messages when one does not compile. */
export function compileContracts(): ContractArtifact[] {
  const sources = Object.fromEntries(
    fs
      .readdirSync(CONTRACTS_DIR)
      .filter((file) => file.endsWith('.sol'))
      .sort()
      .map((file) => [file, { content: fs.readFileSync(path.join(CONTRACTS_DIR, file), 'utf8') }]),
  );
  const input = {
    language: 'Solidity',
    sources,
    settings: { evmVersion: EVM_VERSION, optimizer: OPTIMIZER, outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput;
  const problems = (output.errors ?? []).filter((e) => e.severity !== 'info');
  // Warnings fail too: a contract that compiles with warnings is not finished.
  if (problems.length > 0) {
    throw new Error(`solc ${solc.version()}:\n${problems.map((e) => e.formattedMessage).join('\n')}`);
  }
  const version = solc.version();
  return Object.entries(output.contracts ?? {}).flatMap(([sourceName, contracts]) =>
    Object.entries(contracts).map(([contractName, { abi, evm }]) => ({
      contractName,
      sourceName: `chain/contracts/${sourceName}`,
      compiler: { version, evmVersion: EVM_VERSION, optimizer: OPTIMIZER },
      abi,
      bytecode: `0x${evm.bytecode.object}`,
    })),
  );
}

/** The committed file's text for an artifact: what the script writes and what the test compares. */
export function artifactText(artifact: ContractArtifact): string {
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

function main(): void {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  for (const artifact of compileContracts()) {
    const file = path.join(ARTIFACTS_DIR, `${artifact.contractName}.json`);
    fs.writeFileSync(file, artifactText(artifact));
    console.log(`${path.relative(ROOT_DIR, file)}: ${(artifact.bytecode.length - 2) / 2} bytes of creation code (solc ${artifact.compiler.version}, ${EVM_VERSION})`);
  }
}

if (require.main === module) main();
