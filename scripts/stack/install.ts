// `npm test` runs this first: installs the local stack's tools when missing (MariaDB's packages, the temporal CLI, Chromium for the browser tests), so a fresh CI machine needs nothing else.
import { loadConfig } from '../../config';
import { ensureChromiumInstalled } from './chromium';
import { ensureMariadbInstalled } from './mariadb';
import { resolveTemporalCli } from './temporal';

async function main(): Promise<void> {
  await ensureMariadbInstalled();
  await resolveTemporalCli(loadConfig().stack);
  await ensureChromiumInstalled();
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
