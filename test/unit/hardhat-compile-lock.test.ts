/**
 * The compile lock of node/chain/hardhat.ts: test files in parallel forks all start a chain, and
 * exactly one may compile at a time. A holder that is alive is never taken for stale, however
 * long it compiles (on a loaded 2-core CI machine a solc-js compile can outlast any fixed
 * timeout); a lock left by a process that died is broken.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HardhatRuntimeEnvironment } from 'hardhat/types/index.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileContracts, compileLockIsStale } from '../../node/chain/hardhat.js';

let cache: string;
let lock: string;
beforeEach(async () => {
  cache = await mkdtemp(join(tmpdir(), 'fedmesh-lock-'));
  lock = join(cache, 'fedmesh-compile.lock');
});
afterEach(async () => {
  await rm(cache, { recursive: true, force: true });
});

const hourAgo = () => new Date(Date.now() - 3_600_000);

/** The PID of a process that has exited (reaped, so it names no live process). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

/** A Hardhat runtime whose compile task calls `compile`. */
function fakeHre(compile: () => Promise<void>): HardhatRuntimeEnvironment {
  return { config: { paths: { cache } }, run: compile } as unknown as HardhatRuntimeEnvironment;
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('compile lock', () => {
  it('a live holder is not stale even with an hour-old mtime; a dead one is', async () => {
    await mkdir(lock);
    await writeFile(join(lock, 'owner'), `${process.pid}\n`);
    await utimes(lock, hourAgo(), hourAgo());
    expect(await compileLockIsStale(lock)).toBe(false);
    await writeFile(join(lock, 'owner'), `${await deadPid()}\n`);
    expect(await compileLockIsStale(lock)).toBe(true);
  });

  it('without an owner file only the mtime decides', async () => {
    await mkdir(lock);
    expect(await compileLockIsStale(lock)).toBe(false);
    await utimes(lock, hourAgo(), hourAgo());
    expect(await compileLockIsStale(lock)).toBe(true);
    await rm(lock, { recursive: true });
    expect(await compileLockIsStale(lock)).toBe(false);
  });

  it('the holder names itself and refreshes the mtime while it compiles, then removes the lock', async () => {
    let seen: { owner: string; refreshed: boolean } | undefined;
    await compileContracts(
      fakeHre(async () => {
        const owner = await readFile(join(lock, 'owner'), 'utf8');
        await utimes(lock, hourAgo(), hourAgo());
        // The heartbeat (every 5 s) must bring the mtime back to now.
        await waitFor(async () => Date.now() - (await stat(lock)).mtimeMs < 60_000);
        seen = { owner: owner.trim(), refreshed: true };
      }),
    );
    expect(seen).toEqual({ owner: String(process.pid), refreshed: true });
    await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it("a dead holder's lock is broken and the waiter compiles", async () => {
    await mkdir(lock);
    await writeFile(join(lock, 'owner'), `${await deadPid()}\n`);
    let compiled = 0;
    await compileContracts(
      fakeHre(async () => {
        compiled++;
      }),
    );
    expect(compiled).toBe(1);
    expect((await readdir(cache)).filter((n) => n.startsWith('fedmesh-compile.lock'))).toEqual([]);
  });

  it('a waiter behind a live holder compiles only after the holder releases', async () => {
    await mkdir(lock);
    await writeFile(join(lock, 'owner'), `${process.pid}\n`);
    await utimes(lock, hourAgo(), hourAgo());
    const events: string[] = [];
    const waiter = compileContracts(
      fakeHre(async () => {
        events.push('compiled');
      }),
    );
    // Let the waiter poll the held lock many times (each poll is 100 ms).
    await waitFor(async () => {
      events.push('polled');
      return events.length >= 20;
    });
    expect(events).not.toContain('compiled');
    await rm(lock, { recursive: true });
    await waiter;
    expect(events.at(-1)).toBe('compiled');
  });
});
