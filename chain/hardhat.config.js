// The local chain that `npm start` and the tests run as `hardhat node`. scripts/stack/evm-node.ts starts it and passes
// its settings in the environment. Contracts are compiled by scripts/compile-contracts.ts (solc-js), never by Hardhat,
// which would download a compiler: its sources path points at a folder that holds no .sol file.
const path = require('node:path');

// Hardhat's own default: 20 accounts with 10,000 ETH each, the same on every machine.
const TEST_MNEMONIC = 'test test test test test test test test test test test junk';
const intervalMs = Number(process.env.DURAPAY_EVM_MINING_INTERVAL_MS || 0);

module.exports = {
  paths: {
    root: __dirname,
    sources: path.join(__dirname, 'node'),
  },
  networks: {
    hardhat: {
      // 31337 for the stack; a test starts a second node under another id to register it as a network of its own.
      chainId: Number(process.env.DURAPAY_EVM_CHAIN_ID || 31337),
      accounts: { mnemonic: process.env.DURAPAY_EVM_MNEMONIC || TEST_MNEMONIC, count: 20 },
      // Automine (a block per transaction) for quick tests; an interval for a chain whose confirmations advance on their own.
      mining: intervalMs > 0 ? { auto: false, interval: intervalMs } : { auto: true, interval: 0 },
    },
  },
};
