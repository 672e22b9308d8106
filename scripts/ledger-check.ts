// `npm run ledger:check`: verifies the ledger's invariants at DATABASE_URL; prints JSON, exits 1 on a violation.
import { loadConfig } from '../config';
import { createDb } from '../db/knex';
import { checkInvariants } from '../db/ledger';

async function main(): Promise<void> {
  const config = loadConfig();
  const db = createDb(config.db.url);
  try {
    const report = await checkInvariants(db);
    console.log(JSON.stringify(report, null, 2));
    process.exitCode = report.ok ? 0 : 1;
  } finally {
    await db.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
