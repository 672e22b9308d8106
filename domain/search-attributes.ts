// The custom search attributes every payment workflow upserts, so ops can filter runs in the Temporal UI.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const PaymentKind = defineSearchAttributeKey('PaymentKind', SearchAttributeType.KEYWORD);
export const PaymentStatus = defineSearchAttributeKey('PaymentStatus', SearchAttributeType.KEYWORD);
export const Uid = defineSearchAttributeKey('Uid', SearchAttributeType.KEYWORD_LIST);

/** Name → type, as registered with the Temporal namespace at start-up. */
export const CUSTOM_SEARCH_ATTRIBUTES = {
  PaymentKind: 'KEYWORD',
  PaymentStatus: 'KEYWORD',
  Uid: 'KEYWORD_LIST',
} as const;
