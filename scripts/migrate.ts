// `npx tsx scripts/migrate.ts`: brings the schema at DATABASE_URL up to date (docker-compose's one-shot service).
import { loadConfig } from '../config';
import { createDb } from '../db/knex';
import { migrateLatest } from '../db/migrate';

async function main(): Promise<void> {
  const config = loadConfig();
  const db = createDb(config.db.url);
  try {
    const applied = await migrateLatest(db);
    console.log(applied.length ? `applied migrations: ${applied.join(', ')}` : 'schema is up to date');
  } finally {
    await db.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
