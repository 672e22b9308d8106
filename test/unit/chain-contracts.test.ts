import fs from 'node:fs';
import path from 'node:path';
import { ARTIFACTS_DIR, artifactText, compileContracts } from '../../scripts/compile-contracts';

describe('the committed contract artifacts', () => {
  test('are what chain/contracts compiles to now (after editing a contract, run `npx tsx scripts/compile-contracts.ts`)', () => {
    const fresh = compileContracts();
    expect(fresh.map((a) => a.contractName)).toEqual(['TestToken']);
    for (const artifact of fresh) {
      const committed = fs.readFileSync(path.join(ARTIFACTS_DIR, `${artifact.contractName}.json`), 'utf8');
      expect(committed).toBe(artifactText(artifact));
    }
  });
});
