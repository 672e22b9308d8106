// TEMPORARY microbench (to be deleted)
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../config';
import { createDb } from '../db/knex';
import { migrateLatest } from '../db/migrate';
import { startMariadb } from './stack/mariadb';
import { freePorts } from './stack/ports';
import { ServiceGroup } from './stack/processes';
import { givenFundedUsers } from './fixtures';
import { createBatch, holdItems, openItemsOfChunk, recordOutcomes, type ItemOutcome } from '../db/batch-payouts';

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const c0 = process.cpuUsage(); const t0 = performance.now();
  const r = await f();
  const c = process.cpuUsage(c0);
  if (process.env.BBV) console.log(`${label}: wall ${(performance.now() - t0).toFixed(1)} ms, js cpu ${((c.user + c.system) / 1000).toFixed(1)} ms`);
  return r;
}

async function main() {
  const config = loadConfig();
  const group = new ServiceGroup();
  const baseDir = path.join(config.dataDir, 'bbmicro');
  const [port] = await freePorts(1);
  const m = await startMariadb(group, { baseDir, port, database: 'durapay_bbmicro', durable: true, recreateDatabase: true });
  const db = createDb(m.url);
  try {
    await migrateLatest(db);
    for (let round = 0; round < 6; round++) {
      const uids = Array.from({ length: 10000 }, (_, i) => 5_000_000 + round * 10000 + i);
      await givenFundedUsers(db, uids, '100.00');
      const batchPayId = `micro-${round}`;
      await timed('createBatch 10000', () => createBatch(db, { batchPayId, workflowId: batchPayId, currency: 'CNY', items: uids.map((uid) => ({ uid, amount: '1.00' })), limits: { min: 10, max: 60 } }));
      const open = await timed('openItemsOfChunk 10000', () => openItemsOfChunk(db, batchPayId, 0, 10000));
      let i = 0;
      for (const size of [100, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500]) {
        const slice = open.slice(i, i + size); i += size;
        await timed(`hold ${size}`, () => holdItems(db, { batchPayId, currency: 'CNY' }, slice));
      }
      let j = 0;
      for (let k = 0; k < 80; k++) {
        const outcomes: ItemOutcome[] = open.slice(j, j + 110).map((it) => ({ uid: Number(it.uid), seq: it.seq, status: 'paid', attempts: 1, maybeSent: true, holdRound: 0, providerRef: `opr_${'x'.repeat(32)}` }));
        j += 110;
        await timed('flush 110', () => recordOutcomes(db, batchPayId, outcomes));
      }
    }
  } finally {
    await db.destroy();
    await group.stopAll();
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
