// Every workflow the workers run (this file is the entry of the workflow bundle).
export { TransferWorkflow } from './transfer';
export { BatchPayoutWorkflow } from './batch-payout';
export { NoopWorkflow } from './noop';
export { DonationWorkflow } from './donation';
export { RefundWorkflow } from './refund';
export { ChainScannerWorkflow } from './chain-scanner';
export { DepositWorkflow } from './deposit';
export { WithdrawalWorkflow, MerchantPaymentWorkflow } from './withdrawal';
export { ChainConfirmationWorkflow } from './chain-confirmation';
export { NotificationWorkflow } from './notification';
export { CheckoutSessionWorkflow } from './checkout-session';
