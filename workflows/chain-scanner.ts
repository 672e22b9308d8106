// ChainScannerWorkflow (`scanner-{chainId}-{symbol}`): a durable block cursor over one token of one network. Each step
// scans the next blocks for Transfer logs to deposit addresses and signal-with-starts their DepositWorkflows, or signals the
// CheckoutSessionWorkflow of an open session's address (the cursor and the hashes of the blocks read live in the
// database, so a reorg is found and rescanned); it sleeps on a timer once
// caught up with the head, waits out RPC outages in its activity's retries, and continues as new every STEPS_PER_RUN.
import { continueAsNew, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { depositActivities } from '../activities/deposits';
import { scannerStatusQuery, type ScannerInput, type ScannerProgress } from '../domain/deposit';

type Activities = ReturnType<typeof depositActivities>;

// Never gives up: a node that stays down is waited for, its retries spaced up to a minute apart. A step whose worker died
// is retried once its heartbeat is 15 s late, not after the whole 2 minutes.
const { scanChain } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** About 11 history events a step (activity, timer, workflow tasks): a run stays far below Temporal's limits. */
const STEPS_PER_RUN = 500;

export async function ChainScannerWorkflow(scanner: ScannerInput, carried?: ScannerProgress): Promise<void> {
  let progress: ScannerProgress = carried ?? {
    networkId: scanner.networkId,
    tokenSymbol: scanner.tokenSymbol,
    head: null,
    cursor: null,
    steps: 0,
    deposits: 0,
    reorgs: 0,
    resets: 0,
  };
  setHandler(scannerStatusQuery, () => progress);

  for (let step = 0; step < STEPS_PER_RUN && !workflowInfo().continueAsNewSuggested; step++) {
    const result = await scanChain(scanner);
    if (result.inactive) return; // the token or its network was switched off: starting the scanners again resumes it
    const moved = result.cursor !== progress.cursor;
    progress = {
      ...progress,
      head: result.head,
      cursor: result.cursor,
      steps: progress.steps + 1,
      deposits: progress.deposits + result.found,
      reorgs: progress.reorgs + (result.rewoundTo !== null && !result.reset ? 1 : 0),
      resets: progress.resets + (result.reset ? 1 : 0),
    };
    // Blocks are waiting past the cursor: on at once. Caught up, or a step that could not move: after the poll interval.
    if (!(result.behind && moved)) await sleep(scanner.pollIntervalMs);
  }
  await continueAsNew<typeof ChainScannerWorkflow>(scanner, progress);
}
