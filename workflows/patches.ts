// Patch ids (`patched()`) of changes to workflows that runs started before them, and recorded histories, replay without.

/** Chain reads (a deposit's log, a transaction's receipt) as local activities instead of activity tasks. */
export const LOCAL_CHAIN_READS = 'local-chain-reads';
