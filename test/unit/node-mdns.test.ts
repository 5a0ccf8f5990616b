/**
 * Optional mDNS discovery of the libp2p host (`network.mdns: true`): two hosts on this machine
 * find each other with no bootstrap address. mDNS needs a multicast-capable, non-loopback
 * interface; without one (some CI sandboxes) the test is skipped, not faked.
 */
import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createHost, type Host } from '../../node/net/libp2p-host.js';

const hasLanInterface = Object.values(networkInterfaces()).some((list) => (list ?? []).some((i) => !i.internal && i.family === 'IPv4'));

describe('libp2p host: mDNS discovery', () => {
  it.skipIf(!hasLanInterface)(
    'two hosts with mdns on discover each other without bootstrap addresses',
    async () => {
      const hosts: Host[] = [];
      try {
        hosts.push(await createHost({ mdns: true, listen: ['/ip4/0.0.0.0/tcp/0'] }));
        hosts.push(await createHost({ mdns: true, listen: ['/ip4/0.0.0.0/tcp/0'] }));
        const [a, b] = hosts as [Host, Host];
        const found = new Promise<void>((resolve) => {
          b.addEventListener('peer:discovery', (e) => {
            if (e.detail.id.equals(a.peerId)) resolve();
          });
        });
        await found;
        // The daemon then dials discovered members; here: the address found is dialable.
        await b.dial(a.peerId);
        expect(b.getPeers().map(String)).toContain(a.peerId.toString());
      } finally {
        await Promise.all(hosts.map((h) => h.stop()));
      }
    },
    30_000,
  );
});
