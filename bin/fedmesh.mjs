#!/usr/bin/env node
// fedmesh CLI entry: registers tsx so the TypeScript sources run without a build step, loads
// the Node 20 polyfills before anything imports libp2p, then hands over to node/cli.
import { register } from 'tsx/esm/api';

register();
await import('../node/polyfills.ts');
const { main } = await import('../node/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
