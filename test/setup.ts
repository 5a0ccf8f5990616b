// Loaded by vitest before every test file: the Node 20 polyfills libp2p needs.
import '../node/polyfills.js';
