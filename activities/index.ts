// Every activity the workers register, built from their injected dependencies.
import type { Db } from '../db/knex';
import { batchPayoutActivities } from './batch-payouts';
import type { ChainClients } from './chain-clients';
import { chainSendActivities } from './chain-sends';
import { chainPayoutActivities } from './chain-withdrawals';
import { checkoutActivities } from './checkout';
import { depositActivities, type DepositSettings } from './deposits';
import { donationActivities } from './donations';
import { ledgerActivities } from './ledger';
import { noopActivities } from './noop';
import { notifyActivities, type WebhookSettings } from './notify';
import type { GatewayRegistry } from './providers/gateways';
import type { PayoutApi } from './providers/payout-api';
import type { WalletSigner } from './providers/wallet-keys';

export interface ActivityDeps {
  db: Db;
  payouts: PayoutApi;
  gateways: GatewayRegistry;
  rankingTimeZone: string;
  webhooks: WebhookSettings;
  deposits: DepositSettings;
  /** The EVM client of each network, and the signer of our wallets: for withdrawals, merchant payments and checkout sessions. */
  chains: ChainClients;
  walletSigner: WalletSigner;
}

export function createActivities({ db, payouts, gateways, rankingTimeZone, webhooks, deposits, chains, walletSigner }: ActivityDeps) {
  return {
    ...ledgerActivities(db),
    ...batchPayoutActivities(db, payouts),
    ...donationActivities(db, gateways, rankingTimeZone),
    ...notifyActivities(db, webhooks),
    ...depositActivities(db, deposits),
    ...chainSendActivities({ db, chains, signer: walletSigner }),
    ...chainPayoutActivities(db),
    ...checkoutActivities(db, chains),
    ...noopActivities(),
  };
}

export type Activities = ReturnType<typeof createActivities>;
