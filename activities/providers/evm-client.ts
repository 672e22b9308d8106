// JSON-RPC to one EVM chain through ethers v6, over the network's RPC URLs: each call goes to the first healthy URL and
// fails over to the next when one cannot answer. Answers are plain JSON (block numbers as numbers, amounts in base units as
// decimal strings, addresses and hashes in lower case), so activities can return them to workflows as they are.
import { FetchRequest, Interface, isError, JsonRpcProvider, keccak256, Network, zeroPadValue, type Log, type TransactionReceipt } from 'ethers';

/** The ERC-20 calls and event durapay uses, for encoding calls (`ERC20.encodeFunctionData('transfer', [to, units])`). */
export const ERC20 = new Interface([
  'event Transfer(address indexed from, address indexed to, uint256 value)',
  'function balanceOf(address owner) view returns (uint256)',
  'function transfer(address to, uint256 value) returns (bool)',
  'function decimals() view returns (uint8)',
]);
export const TRANSFER_TOPIC = ERC20.getEvent('Transfer')!.topicHash;

export type EvmErrorCode =
  /** No URL answered (refused, timed out, 5xx, rate-limited, wrong chain): retry later. */
  | 'rpc_unavailable'
  /** The node ran the call and the contract reverted: the same call reverts again. */
  | 'execution_reverted'
  /** A transaction with this nonce (and another hash) is already on chain. */
  | 'nonce_too_low'
  /** The sender cannot pay the value and the gas. */
  | 'insufficient_funds'
  /** A transaction with this nonce is pending and the new one does not pay enough more to replace it. */
  | 'replacement_underpriced'
  /** The token address holds no contract on this chain. */
  | 'not_a_contract'
  /** eth_getLogs over too many blocks or with too many results for this node: ask for a smaller range. */
  | 'log_range_too_large'
  /** The node found our request malformed. */
  | 'invalid_request'
  /** Any other error the node answered with: retry. */
  | 'rpc_error';

const NOT_RETRYABLE: ReadonlySet<EvmErrorCode> = new Set([
  'execution_reverted',
  'nonce_too_low',
  'insufficient_funds',
  'replacement_underpriced',
  'not_a_contract',
  'log_range_too_large',
  'invalid_request',
]);

/** A call that did not come to an answer. `retryable` says whether the same call later can succeed. */
export class EvmRpcError extends Error {
  readonly retryable: boolean;

  constructor(
    readonly code: EvmErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EvmRpcError';
    this.retryable = !NOT_RETRYABLE.has(code);
  }
}

export interface EvmNetwork {
  chainId: number;
  /** Tried in this order. They may carry API keys: errors and health name them by host only. */
  rpcUrls: string[];
}

export interface EvmClientOptions {
  /** How long one call to one URL may take before the next URL is tried (default 5000). */
  timeoutMs?: number;
  /** How long a URL that failed is passed over; it is still tried when every URL is down (default 30000). */
  downForMs?: number;
  /** Most recipient addresses in one eth_getLogs topic filter; more are split over several calls (default 200). */
  maxAddressesPerLogQuery?: number;
}

export interface BlockHeader {
  number: number;
  hash: string;
  parentHash: string;
  /** Seconds since the epoch. */
  timestamp: number;
}

/** An ERC-20 Transfer log. */
export interface TransferLog {
  /** The token contract. */
  token: string;
  from: string;
  to: string;
  /** Base units, decimal. */
  value: string;
  blockNumber: number;
  blockHash: string;
  transactionHash: string;
  logIndex: number;
}

export interface ChainReceipt {
  transactionHash: string;
  blockNumber: number;
  blockHash: string;
  /** 1 succeeded, 0 reverted. */
  status: 0 | 1;
  from: string;
  to: string | null;
  gasUsed: string;
  /** Wei per gas actually paid. */
  effectiveGasPrice: string;
  /** The ERC-20 Transfer logs it emitted, of any token. */
  transfers: TransferLog[];
}

export interface ChainTransaction {
  hash: string;
  from: string;
  to: string | null;
  nonce: number;
  /** Wei. */
  value: string;
  data: string;
  gasLimit: string;
  gasPrice: string | null;
  maxFeePerGas: string | null;
  maxPriorityFeePerGas: string | null;
  /** null while pending. */
  blockNumber: number | null;
  blockHash: string | null;
}

export interface FeeData {
  /** Wei per gas; null when the node does not say. */
  gasPrice: string | null;
  maxFeePerGas: string | null;
  maxPriorityFeePerGas: string | null;
}

export interface EndpointHealth {
  /** The URL without path or query (where keys live). */
  url: string;
  healthy: boolean;
  /** While unhealthy: when it will be preferred again. */
  downUntil?: string;
  lastError?: string;
}

/**
 * A client of one chain over its RPC URLs, with failover. Reads of the chain's state (head, blocks by number, balances,
 * transaction counts, fees) asked while the same read is already on its way share its answer: 200 withdrawals signing at
 * once ask the node for the fees once, not 200 times. Such an answer is at most one round trip older than a read of one's
 * own would have been, as any answer may be by the time it is used.
 */
export interface EvmClient {
  readonly chainId: number;
  blockNumber(): Promise<number>;
  /** null when the chain has no such block (yet). */
  getBlock(block: number | 'latest'): Promise<BlockHeader | null>;
  /** Transfer logs of these tokens to these addresses in [fromBlock, toBlock], in chain order. */
  getTransferLogs(query: { tokens: string[]; to: string[]; fromBlock: number; toBlock: number }): Promise<TransferLog[]>;
  /** null while the transaction is pending or unknown. */
  getTransactionReceipt(hash: string): Promise<ChainReceipt | null>;
  /** null when no node knows it (dropped, or never sent). */
  getTransaction(hash: string): Promise<ChainTransaction | null>;
  /**
   * Broadcasts a signed transaction. Sending the same bytes again is a success (`alreadyKnown`), whether the node still
   * holds it in its pool or has mined it; a different transaction with the same nonce is `nonce_too_low`.
   */
  sendRawTransaction(rawTransaction: string): Promise<{ hash: string; alreadyKnown: boolean }>;
  /** The next nonce of an address: counting its pending transactions, or only the mined ones. */
  getTransactionCount(address: string, block?: 'pending' | 'latest'): Promise<number>;
  /** Base units, decimal. */
  tokenBalance(token: string, owner: string): Promise<string>;
  /** The token's decimals(); `not_a_contract` when the address holds no contract. */
  tokenDecimals(token: string): Promise<number>;
  /** Wei, decimal. */
  nativeBalance(address: string): Promise<string>;
  /** Gas a transaction would use; `execution_reverted` when it would revert. */
  estimateGas(tx: { from: string; to: string; data?: string; value?: string }): Promise<string>;
  feeData(): Promise<FeeData>;
  /** What the client remembers of each URL, in the configured order. */
  endpoints(): EndpointHealth[];
  close(): void;
}

interface Endpoint {
  label: string;
  provider: JsonRpcProvider;
  /** It answered eth_chainId with the network's chain id. */
  verified: boolean;
  downUntil: number;
  lastError?: string;
}

/** A failure of one URL (the next one may answer) as opposed to an answer that is an error. */
class UrlFailure extends Error {}

export function createEvmClient(network: EvmNetwork, options: EvmClientOptions = {}): EvmClient {
  const { timeoutMs = 5000, downForMs = 30_000, maxAddressesPerLogQuery = 200 } = options;
  if (network.rpcUrls.length === 0) throw new Error(`chain ${network.chainId} has no RPC URL`);
  const chain = Network.from(network.chainId);
  const endpoints: Endpoint[] = network.rpcUrls.map((url) => {
    const request = new FetchRequest(url);
    request.timeout = timeoutMs;
    // A 429 moves on to the next URL now rather than waiting out ethers' backoff on this one.
    request.setThrottleParams({ maxAttempts: 1 });
    return {
      label: hostOf(url),
      // The network is known: no eth_chainId before every call. A local node answers each call at once: no batching
      // stall, and no cached answers (a cached nonce or block number is a stale one).
      provider: new JsonRpcProvider(request, chain, { staticNetwork: chain, cacheTimeout: -1, batchMaxCount: 1 }),
      verified: false,
      downUntil: 0,
    };
  });

  /** Healthy URLs in their configured order, then the ones that failed, soonest back first. */
  function inOrder(): Endpoint[] {
    const now = Date.now();
    const up = endpoints.filter((e) => e.downUntil <= now);
    const down = endpoints.filter((e) => e.downUntil > now).sort((a, b) => a.downUntil - b.downUntil);
    return [...up, ...down];
  }

  async function call<T>(method: string, run: (provider: JsonRpcProvider) => Promise<T>): Promise<T> {
    const failures: string[] = [];
    for (const endpoint of inOrder()) {
      try {
        if (!endpoint.verified) await verifyChain(endpoint);
        const result = await run(endpoint.provider);
        endpoint.downUntil = 0;
        endpoint.lastError = undefined;
        return result;
      } catch (err) {
        const failure = err instanceof UrlFailure ? { urlFailed: true as const, message: err.message } : classify(err, method);
        if ('code' in failure) throw new EvmRpcError(failure.code, `${method} on ${endpoint.label}: ${failure.message}`);
        endpoint.downUntil = Date.now() + downForMs;
        endpoint.lastError = failure.message;
        endpoint.verified = false; // what answers there when it is back may be another node
        failures.push(`${endpoint.label}: ${failure.message}`);
      }
    }
    throw new EvmRpcError('rpc_unavailable', `${method}: no RPC URL of chain ${network.chainId} answered (${failures.join('; ')})`);
  }

  async function verifyChain(endpoint: Endpoint): Promise<void> {
    let answer: unknown;
    try {
      answer = await endpoint.provider.send('eth_chainId', []);
    } catch (err) {
      const failure = classify(err, 'eth_chainId');
      throw new UrlFailure('code' in failure ? `eth_chainId: ${failure.message}` : failure.message);
    }
    const chainId = Number(answer);
    // A URL of another chain must never be read from: its logs would look like deposits.
    if (chainId !== network.chainId) throw new UrlFailure(`serves chain ${Number.isSafeInteger(chainId) ? chainId : String(answer)}, not ${network.chainId}`);
    endpoint.verified = true;
  }

  /** The answer of the same read on its way, if one is; else this one, shared until it is answered. */
  const inFlight = new Map<string, Promise<unknown>>();
  function shared<T>(key: string, read: () => Promise<T>): Promise<T> {
    const running = inFlight.get(key);
    if (running) return running as Promise<T>;
    const started = read().finally(() => inFlight.delete(key));
    inFlight.set(key, started);
    return started;
  }

  async function getTransaction(hash: string): Promise<ChainTransaction | null> {
    const tx = await call('eth_getTransactionByHash', (p) => p.getTransaction(hash));
    if (!tx) return null;
    return {
      hash: tx.hash.toLowerCase(),
      from: tx.from.toLowerCase(),
      to: tx.to?.toLowerCase() ?? null,
      nonce: tx.nonce,
      value: tx.value.toString(),
      data: tx.data,
      gasLimit: tx.gasLimit.toString(),
      gasPrice: tx.gasPrice?.toString() ?? null,
      maxFeePerGas: tx.maxFeePerGas?.toString() ?? null,
      maxPriorityFeePerGas: tx.maxPriorityFeePerGas?.toString() ?? null,
      blockNumber: tx.blockNumber,
      blockHash: tx.blockHash?.toLowerCase() ?? null,
    };
  }

  return {
    chainId: network.chainId,

    blockNumber: () => shared('head', () => call('eth_blockNumber', (p) => p.getBlockNumber())),

    getBlock(block) {
      return shared(`block:${block}`, async () => {
        const found = await call('eth_getBlockByNumber', (p) => p.getBlock(block));
        if (!found || found.hash === null) return null;
        return { number: found.number, hash: found.hash.toLowerCase(), parentHash: found.parentHash.toLowerCase(), timestamp: found.timestamp };
      });
    },

    async getTransferLogs({ tokens, to, fromBlock, toBlock }) {
      const recipients = [...new Set(to.map((a) => hexAddress(a, 'recipient')))];
      if (recipients.length === 0 || tokens.length === 0 || toBlock < fromBlock) return [];
      const address = tokens.map((t) => hexAddress(t, 'token'));
      const chunks: string[][] = [];
      for (let i = 0; i < recipients.length; i += maxAddressesPerLogQuery) chunks.push(recipients.slice(i, i + maxAddressesPerLogQuery));
      const found = await Promise.all(
        chunks.map((chunk) =>
          call('eth_getLogs', (p) =>
            p.getLogs({ address, fromBlock, toBlock, topics: [TRANSFER_TOPIC, null, chunk.map((a) => zeroPadValue(a, 32))] }),
          ),
        ),
      );
      return found
        .flat()
        .map(transferOf)
        .filter((log): log is TransferLog => log !== null)
        .sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex);
    },

    async getTransactionReceipt(hash) {
      const receipt = await call('eth_getTransactionReceipt', (p) => p.getTransactionReceipt(hash));
      return receipt && receiptOf(receipt);
    },

    getTransaction,

    async sendRawTransaction(rawTransaction) {
      const hash = keccak256(rawTransaction).toLowerCase();
      try {
        await call('eth_sendRawTransaction', (p) => p.send('eth_sendRawTransaction', [rawTransaction]));
        return { hash, alreadyKnown: false };
      } catch (err) {
        if (!(err instanceof EvmRpcError)) throw err;
        if (ALREADY_KNOWN.test(err.message)) return { hash, alreadyKnown: true };
        // Its nonce is used: by this very transaction (mined, or sent through another URL), or by another one.
        if (err.code === 'nonce_too_low' && (await getTransaction(hash))) return { hash, alreadyKnown: true };
        throw err;
      }
    },

    getTransactionCount(address, block = 'pending') {
      const account = hexAddress(address, 'address');
      return shared(`count:${account}:${block}`, () => call('eth_getTransactionCount', (p) => p.getTransactionCount(account, block)));
    },

    async tokenBalance(token, owner) {
      const balanceOf = { to: hexAddress(token, 'token'), data: ERC20.encodeFunctionData('balanceOf', [hexAddress(owner, 'owner')]) };
      return shared(`tokens:${balanceOf.to}:${balanceOf.data}`, async () => {
        const result = await call('eth_call', (p) => p.call(balanceOf));
        if (result === '0x') throw new EvmRpcError('not_a_contract', `${token} holds no contract on chain ${network.chainId}`);
        return BigInt(result).toString();
      });
    },

    async tokenDecimals(token) {
      const decimals = { to: hexAddress(token, 'token'), data: ERC20.encodeFunctionData('decimals', []) };
      const result = await call('eth_call', (p) => p.call(decimals));
      if (result === '0x') throw new EvmRpcError('not_a_contract', `${token} holds no contract on chain ${network.chainId}`);
      return Number(BigInt(result));
    },

    async nativeBalance(address) {
      const account = hexAddress(address, 'address');
      return shared(`balance:${account}`, async () => (await call('eth_getBalance', (p) => p.getBalance(account))).toString());
    },

    async estimateGas({ from, to, data, value }) {
      const tx = { from: hexAddress(from, 'from'), to: hexAddress(to, 'to'), data, value: value === undefined ? undefined : BigInt(value) };
      return (await call('eth_estimateGas', (p) => p.estimateGas(tx))).toString();
    },

    feeData() {
      return shared('fees', async () => {
        const fees = await call('eth_gasPrice', (p) => p.getFeeData());
        return {
          gasPrice: fees.gasPrice?.toString() ?? null,
          maxFeePerGas: fees.maxFeePerGas?.toString() ?? null,
          maxPriorityFeePerGas: fees.maxPriorityFeePerGas?.toString() ?? null,
        };
      });
    },

    endpoints() {
      const now = Date.now();
      return endpoints.map((e) => ({
        url: e.label,
        healthy: e.downUntil <= now,
        ...(e.downUntil > now && { downUntil: new Date(e.downUntil).toISOString() }),
        ...(e.lastError && { lastError: e.lastError }),
      }));
    },

    close() {
      for (const e of endpoints) e.provider.destroy();
    },
  };
}

// "already known" (geth), "known transaction" (older geth, BSC, Hardhat), "already imported" (Nethermind, OpenEthereum).
const ALREADY_KNOWN = /already known|known transaction|already imported|transaction already exists/i;
const RATE_LIMITED = /rate limit|too many requests|request limit|capacity exceeded|quota/i;
const LOG_RANGE_TOO_LARGE = /block range|range (is )?too (large|wide|big)|more than \d+ (results|logs)|response size|too many (results|logs|blocks)|query timeout/i;
const NODE_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE']);

type Classified = { urlFailed: true; message: string } | { code: EvmErrorCode; message: string };

/** Whether an error means "this URL could not answer" (try the next one) or is the node's answer, and which. */
function classify(err: unknown, method: string): Classified {
  const message = describe(err);
  const nodeCode = (err as { code?: unknown })?.code;
  if (typeof nodeCode === 'string' && (NODE_ERROR_CODES.has(nodeCode) || nodeCode.startsWith('UND_ERR'))) return { urlFailed: true, message };
  if (/socket hang up/i.test(message)) return { urlFailed: true, message };
  // No answer in time, an HTTP error status (5xx, 429, 401 of a bad key), an answer that is not JSON-RPC, a method this node lacks.
  if (isError(err, 'TIMEOUT') || isError(err, 'SERVER_ERROR') || isError(err, 'BAD_DATA') || isError(err, 'UNSUPPORTED_OPERATION')) {
    return { urlFailed: true, message };
  }
  const rpc = rpcErrorOf(err);
  const rpcMessage = rpc?.message ?? '';
  // The contract's own answer, whatever words its reason uses.
  if (/revert/i.test(rpcMessage) || (isError(err, 'CALL_EXCEPTION') && err.data)) return { code: 'execution_reverted', message };
  if (method === 'eth_getLogs' && LOG_RANGE_TOO_LARGE.test(rpcMessage)) return { code: 'log_range_too_large', message };
  if (rpc?.code === -32005 || rpc?.code === 429 || RATE_LIMITED.test(rpcMessage)) return { urlFailed: true, message };
  // ethers names any error of eth_call / eth_estimateGas a call exception: without a revert it is the node's trouble.
  if (isError(err, 'CALL_EXCEPTION')) return { code: 'rpc_error', message };
  if (isError(err, 'NONCE_EXPIRED')) return { code: 'nonce_too_low', message };
  if (isError(err, 'INSUFFICIENT_FUNDS')) return { code: 'insufficient_funds', message };
  if (isError(err, 'REPLACEMENT_UNDERPRICED')) return { code: 'replacement_underpriced', message };
  if (rpc?.code === -32602 || rpc?.code === -32600) return { code: 'invalid_request', message };
  // Any other answer of the node (it is up: another URL would likely say the same), or something unforeseen: retried.
  return { code: 'rpc_error', message };
}

/** The JSON-RPC error object a node answered with, as ethers keeps it. */
function rpcErrorOf(err: unknown): { code?: number; message: string } | undefined {
  const e = err as { info?: { error?: unknown }; error?: unknown };
  for (const candidate of [e?.info?.error, e?.error]) {
    const rpc = candidate as { code?: unknown; message?: unknown } | undefined;
    if (rpc && typeof rpc.message === 'string') return { code: typeof rpc.code === 'number' ? rpc.code : undefined, message: rpc.message };
  }
  return undefined;
}

/** A short message: ethers' long messages embed the request, whose URL may carry a key. */
function describe(err: unknown): string {
  const rpc = rpcErrorOf(err);
  const short = (err as { shortMessage?: unknown })?.shortMessage;
  const base = typeof short === 'string' ? short : err instanceof Error ? err.message : String(err);
  return rpc && !base.includes(rpc.message) ? `${base}: ${rpc.message}` : base;
}

function transferOf(log: Log): TransferLog | null {
  // ERC-721 shares the event signature with a fourth, indexed topic (the token id) and no data: not a token amount.
  if (log.topics.length !== 3 || log.topics[0] !== TRANSFER_TOPIC || log.data.length !== 66) return null;
  return {
    token: log.address.toLowerCase(),
    from: `0x${log.topics[1].slice(26)}`.toLowerCase(),
    to: `0x${log.topics[2].slice(26)}`.toLowerCase(),
    value: BigInt(log.data).toString(),
    blockNumber: log.blockNumber,
    blockHash: log.blockHash.toLowerCase(),
    transactionHash: log.transactionHash.toLowerCase(),
    logIndex: log.index,
  };
}

function receiptOf(receipt: TransactionReceipt): ChainReceipt {
  return {
    transactionHash: receipt.hash.toLowerCase(),
    blockNumber: receipt.blockNumber,
    blockHash: receipt.blockHash.toLowerCase(),
    status: receipt.status === 1 ? 1 : 0,
    from: receipt.from.toLowerCase(),
    to: receipt.to?.toLowerCase() ?? null,
    gasUsed: receipt.gasUsed.toString(),
    effectiveGasPrice: receipt.gasPrice.toString(),
    transfers: receipt.logs.map(transferOf).filter((log): log is TransferLog => log !== null),
  };
}

function hexAddress(address: string, what: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) throw new Error(`${what} ${JSON.stringify(address)} is not an address`);
  return address.toLowerCase();
}

/** scheme://host[:port], and "/…" when the URL had more (a path or query can hold an API key). */
export function hostOf(url: string): string {
  try {
    const parsed = new URL(url);
    const more = parsed.pathname.length > 1 || parsed.search ? '/…' : '';
    return `${parsed.protocol}//${parsed.host}${more}`;
  } catch {
    return '(an unparsable URL)';
  }
}
