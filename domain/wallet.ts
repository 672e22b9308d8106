// Wallets' kinds. Addresses are stored and compared in lower case, as domain/chain.ts parseAddress gives them.

/** The wallets each network has exactly one of: hot pays withdrawals; collection receives swept deposits and pays when hot is short (seed 002). */
export const NETWORK_WALLET_KINDS = ['hot', 'collection'] as const;
export type NetworkWalletKind = (typeof NETWORK_WALLET_KINDS)[number];

/** deposit: a user's, derived from the HD seed; or one of a network's own. */
export type WalletKind = 'deposit' | NetworkWalletKind;
