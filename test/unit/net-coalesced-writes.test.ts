/**
 * node/net/libp2p-host.ts transport and muxer changes for issue #13's CPU:
 * `coalescedWritesTcp` — the transport's `sendData` list goes to the socket as one corked write
 * (one `writev`), bytes and order unchanged; `halfWindowYamux` — window updates only once half the
 * receive window is used (go-yamux's rule), flags and paused streams unchanged, and messages
 * several windows long still cross (no stream waits on a skipped update).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import type { MultiaddrConnection } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { StreamState } from '@chainsafe/libp2p-yamux/stream';
import { corkWrites, createHost, deferWindowUpdates, dialAll, type Host, Libp2pGossip } from '../../node/net/libp2p-host.js';
import { ACCEPT } from '../../protocol/verdict.js';

describe('coalesced TCP writes', () => {
  const hosts: Host[] = [];
  let server: Server | undefined;
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  });

  it('writes a sendData list with one writev, same bytes in the same order, backpressure answer kept', async () => {
    const received: Buffer[] = [];
    server = createServer((s) => s.on('data', (d: Buffer) => received.push(d)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const socket = new Socket();
    socket.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    // The transport's own loop (socket-to-conn.js sendData): one socket.write per buffer.
    const maConn = {
      socket,
      sendData(data: Uint8Array[]) {
        let canSendMore = true;
        let sentBytes = 0;
        for (const b of data) {
          sentBytes += b.byteLength;
          canSendMore = socket.write(b);
          if (!canSendMore) break;
        }
        return { sentBytes, canSendMore };
      },
    };
    const writev = vi.spyOn(socket as unknown as { _writev: (...a: unknown[]) => void }, '_writev');
    const write = vi.spyOn(socket as unknown as { _write: (...a: unknown[]) => void }, '_write');
    corkWrites(maConn as unknown as MultiaddrConnection);
    const parts = [Uint8Array.of(0, 5), Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5, 6, 7), Uint8Array.of(8)];
    expect(maConn.sendData(parts)).toEqual({ sentBytes: 10, canSendMore: true });
    expect(writev).toHaveBeenCalledTimes(1);
    expect(write).not.toHaveBeenCalled();
    while (Buffer.concat(received).length < 10) await new Promise((r) => setTimeout(r, 5));
    expect([...Buffer.concat(received)]).toEqual([0, 5, 1, 2, 3, 4, 5, 6, 7, 8]);
    socket.destroy();
  });

  it('leaves a connection without a TCP socket as it is', () => {
    const sendData = (): { sentBytes: number; canSendMore: boolean } => ({ sentBytes: 0, canSendMore: true });
    const maConn = { sendData };
    corkWrites(maConn as unknown as MultiaddrConnection);
    expect(maConn.sendData).toBe(sendData);
  });

  it('libp2p hosts connect over it, both directions corked', async () => {
    const cork = vi.spyOn(Socket.prototype, 'cork');
    const a = await createHost();
    const b = await createHost();
    hosts.push(a, b);
    const conn = await a.dial(multiaddr(b.getMultiaddrs()[0]!.toString()));
    expect(conn.status).toBe('open');
    // Noise and yamux traffic went through corked sendData on both ends (dialler and listener).
    const corked = new Set(cork.mock.contexts);
    expect(corked.size).toBeGreaterThanOrEqual(2);
    // The listener registers its side once its upgrade completes.
    await vi.waitFor(() => expect(b.getConnections(a.peerId).length).toBeGreaterThan(0), { timeout: 60_000, interval: 20 });
  }, 180_000);

  it('yamux: an established stream skips the update while half its window is open, sends it after; flags and pauses go through', () => {
    const sent: string[] = [];
    const stream = {
      state: StreamState.Established as StreamState,
      recvWindow: 256 * 1024,
      recvWindowCapacity: 256 * 1024 - 1000,
      sendWindowUpdate(this: { state: StreamState }) {
        sent.push(StreamState[this.state]!);
      },
    };
    deferWindowUpdates(stream);
    stream.sendWindowUpdate();
    expect(sent).toEqual([]);
    stream.recvWindowCapacity = 128 * 1024; // exactly half used: still open enough
    stream.sendWindowUpdate();
    expect(sent).toEqual([]);
    stream.recvWindowCapacity = 128 * 1024 - 1;
    stream.sendWindowUpdate();
    expect(sent).toEqual(['Established']);
    for (const st of [StreamState.Init, StreamState.SYNReceived, StreamState.Paused]) {
      stream.state = st;
      stream.recvWindowCapacity = stream.recvWindow;
      stream.sendWindowUpdate();
    }
    expect(sent).toEqual(['Established', 'Init', 'SYNReceived', 'Paused']);
  });

  it('gossip messages several receive windows long cross a connection intact', async () => {
    const a = await createHost();
    const b = await createHost();
    hosts.push(a, b);
    const ga = new Libp2pGossip(a);
    const gb = new Libp2pGossip(b);
    const topic = '/fedmesh/test-window/1';
    const got: Uint8Array[] = [];
    ga.subscribe(
      topic,
      () => ACCEPT,
      () => {},
    );
    gb.subscribe(
      topic,
      () => ACCEPT,
      (m) => got.push(m.data),
    );
    await dialAll(a, [b.getMultiaddrs()[0]!.toString()]);
    await vi.waitFor(() => expect(ga.subscribers(topic)).toContain(gb.self), { timeout: 60_000, interval: 20 });
    // 900 kB each (the gossip limit is 1 MiB), 3 of them: ~11 times yamux's initial 256 KiB window.
    const sent = [1, 2, 3].map((k) => Uint8Array.from({ length: 900_000 }, (_, i) => (i * 31 + k) & 0xff));
    for (const m of sent) await ga.publish(topic, m);
    await vi.waitFor(() => expect(got.length).toBe(3), { timeout: 120_000, interval: 20 });
    const digest = (m: Uint8Array): string => createHash('sha256').update(m).digest('hex');
    expect(new Set(got.map(digest))).toEqual(new Set(sent.map(digest)));
  }, 180_000);
});
