// Deposits in tests: the chain scanner of the test chain's token with short intervals (tests start it, and stop it after
// the file: no other file's worker polls it), users with deposit addresses, transfers made the ways a chain allows, and
// waits on what the deposit workflows record.
import { Wallet } from 'ethers';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { ERC20 } from '../../activities/providers/evm-client';
import { scannerSettings, startChainScanners } from '../../api/routes/deposits';
import { loadConfig } from '../../config';
import { getDeposit, getScanCursor, type Deposit } from '../../db/deposits';
import type { Db } from '../../db/knex';
import { depositAddressFor } from '../../db/wallets';
import { depositWorkflowId, toBaseUnits } from '../../domain/chain';
import type { DepositStatus } from '../../domain/deposit';
import { LOCAL_NETWORK_ID } from '../../scripts/stack/evm-node';
import type { MinedTransaction, TestChain } from './chain';
import { givenUser } from './ledger';
import { waitFor } from './processes';

/** Scans every 100 ms; each pending deposit looks at its log every 200 ms. */
export const FAST_SCANNING = { pollIntervalMs: 100, maxBlocksPerScan: 500, depositCheckIntervalMs: 200 };

/**
 * Starts the scanners of the test chain's tokens (the worker's task queue, short intervals) and returns a stop function
 * that terminates them: a scanner left running would be polled by the next file's worker.
 */
export async function startTestScanners(client: Client, db: Db): Promise<{ handles: WorkflowHandle[]; stop(): Promise<void> }> {
  const scanners = await startChainScanners(client, db, { ...scannerSettings(loadConfig()), ...FAST_SCANNING });
  const handles = scanners.map((s) => client.workflow.getHandle(s.workflowId));
  return {
    handles,
    async stop() {
      await Promise.all(handles.map((h) => h.terminate('the test file is done').catch(() => undefined)));
    },
  };
}

/** A registered user with a deposit address on the test chain's network (lower case). */
export async function givenDepositor(db: Db): Promise<{ uid: number; address: string }> {
  const uid = await givenUser(db);
  const { depositAddress } = await depositAddressFor(db, uid, LOCAL_NETWORK_ID);
  return { uid, address: depositAddress.address };
}

export const depositIdOf = (tx: { hash: string }, logIndex = 0): string => depositWorkflowId(31337, tx.hash, logIndex);

/** Waits until the deposit is recorded in one of `statuses`; `mine` mines a block at every look (to move a chain that waits for blocks). */
export async function depositReaches(db: Db, id: string, statuses: DepositStatus[], options: { chain?: TestChain; timeoutMs?: number } = {}): Promise<Deposit> {
  return waitFor(
    `deposit ${id} to be ${statuses.join(' or ')}`,
    async () => {
      const deposit = await getDeposit(db, id);
      if (deposit && statuses.includes(deposit.status)) return deposit;
      await options.chain?.mine(1);
      return undefined;
    },
    options.timeoutMs ?? 60_000,
    100,
  );
}

/** Waits until the USDT scanner has read block `block`. */
export async function scannedPast(db: Db, block: number, symbol = 'USDT'): Promise<void> {
  await waitFor(`the ${symbol} scanner to read block ${block}`, async () => ((await getScanCursor(db, LOCAL_NETWORK_ID, symbol))?.lastBlock ?? -1) >= block, 30_000, 50);
}

/** Ledger transfers of a deposit (by its reference, the deposit's id): exactly one once it is credited. */
export async function creditsOf(db: Db, depositId: string): Promise<{ id: string; amount: string; currency: string; state: string }[]> {
  return db('transfers').where({ reference: depositId }).select('id', 'amount', 'currency', 'state');
}

/**
 * Transfers of a token from account #fromIndex sent while the node does not mine, then mined `perBlock` to a block: many
 * deposits in a few blocks. Automine is back on afterwards, whatever happens. Returns each one's deposit id (its log's
 * index is its place in its block).
 */
export async function transfersInFewBlocks(chain: TestChain, symbol: string, fromIndex: number, payments: { to: string; amount: string }[], perBlock: number): Promise<string[]> {
  const signer = await chain.signer(fromIndex);
  const token = chain.token(symbol);
  const hashes: string[] = [];
  await chain.provider.send('evm_setAutomine', [false]);
  try {
    for (const [i, { to, amount }] of payments.entries()) {
      const tx = await signer.sendTransaction({ to: token.address, data: ERC20.encodeFunctionData('transfer', [to, toBaseUnits(amount, token)]), gasLimit: 100_000n });
      hashes.push(tx.hash.toLowerCase());
      if ((i + 1) % perBlock === 0 || i === payments.length - 1) await chain.mine(1);
    }
  } finally {
    await chain.provider.send('evm_setAutomine', [true]);
  }
  const receipts = await Promise.all(hashes.map((hash) => chain.provider.getTransactionReceipt(hash)));
  return receipts.map((receipt) => depositIdOf({ hash: receipt!.hash.toLowerCase() }, receipt!.logs[0].index));
}

/** A wallet of the test's own with gas and tokens, whose transfers are signed here: the same signed bytes can be sent again after a reorg. */
export async function givenSigningWallet(chain: TestChain, symbol: string, amount: string): Promise<{ signTransfer(to: string, amount: string): Promise<string> }> {
  const wallet = Wallet.createRandom().connect(chain.provider);
  await chain.setBalance(wallet.address, (10n ** 18n).toString());
  await chain.mint(symbol, wallet.address, amount);
  const token = chain.token(symbol);
  return {
    async signTransfer(to, value) {
      return wallet.signTransaction({
        type: 2,
        chainId: 31337n,
        to: token.address,
        data: ERC20.encodeFunctionData('transfer', [to, toBaseUnits(value, token)]),
        nonce: await chain.provider.getTransactionCount(wallet.address, 'pending'),
        gasLimit: 100_000n,
        maxFeePerGas: 20_000_000_000n,
        maxPriorityFeePerGas: 1_000_000_000n,
      });
    },
  };
}

/** Broadcasts signed bytes to the (automining) test node; resolves once mined. */
export async function sendRaw(chain: TestChain, raw: string): Promise<MinedTransaction> {
  const hash = (await chain.provider.send('eth_sendRawTransaction', [raw])) as string;
  const receipt = (await chain.provider.waitForTransaction(hash))!;
  return { hash: receipt.hash.toLowerCase(), blockNumber: receipt.blockNumber, blockHash: receipt.blockHash.toLowerCase() };
}
