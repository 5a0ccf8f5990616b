/**
 * `npm run compile`: compiles contracts/ with the solc-js build from the `solc` package.
 *
 * The Hardhat CLI would need ts-node to read hardhat.config.ts, which this project does not
 * install; going through loadHardhat (tsx) needs nothing extra.
 */
import { loadHardhat } from './hardhat.js';

await loadHardhat();
console.log('contracts compiled (artifacts/ is up to date)');
