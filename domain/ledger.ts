// The ledger's vocabulary: account codes, transfer requests and results. Pure types and naming rules.

/** Account codes: `user:{uid}` for people; system accounts such as `external:bank`, `donations:{category}`, `merchant:checkout`, `payouts:clearing`, `fees`. */
export type AccountCode = string;

export const userAccount = (uid: number): AccountCode => `user:${uid}`;

// external: accounts may name a token by its symbol, as `external:chain:1:USDT` does.
const SYSTEM_ACCOUNT = /^(external:[A-Za-z0-9:_-]+|donations:[a-z0-9_-]+|merchant:checkout|payouts:clearing|fees)$/;
export const isSystemAccount = (code: AccountCode): boolean => SYSTEM_ACCOUNT.test(code);

/** Only accounts standing for money outside the engine may go below zero. */
export const mayGoNegative = (code: AccountCode): boolean => code.startsWith('external:');

export type TransferKind = 'transfer' | 'credit' | 'payout' | 'donation' | 'refund' | 'deposit' | 'withdrawal' | 'payment' | 'checkout';
export type TransferState = 'pending' | 'posted' | 'voided';

export interface TransferRequest {
  /** Caller-given unique id: the same id with the same fields gives the stored result. */
  id: string;
  debitAccount: AccountCode;
  creditAccount: AccountCode;
  /** Decimal string, positive, within the currency's scale. */
  amount: string;
  currency: string;
  kind: TransferKind;
  /** The workflow ID (or other business key) that made this transfer. */
  reference: string;
  /** Two-phase: hold the amount on the debit account; post or void it later. */
  pending?: boolean;
}

export interface TransferRecord {
  id: string;
  debitAccount: AccountCode;
  creditAccount: AccountCode;
  amount: string;
  currency: string;
  kind: TransferKind;
  reference: string;
  state: TransferState;
  createdAt: string;
  updatedAt: string;
}

export interface AccountBalance {
  account: AccountCode;
  currency: string;
  balance: string;
  held: string;
  available: string;
}

export interface InvariantReport {
  ok: boolean;
  currencies: { currency: string; accounts: number; transfers: number; sum: string }[];
  violations: string[];
}
