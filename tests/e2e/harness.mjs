// Starts real `orrery start` processes on free loopback ports and runs the
// real `orrery` CLI against them.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const orreryBin = process.env.ORRERY_BIN ?? path.join(root, 'build/orrery');

export function tempDir(prefix) {
  return mkdtempSync(path.join(tmpdir(), `orrery-${prefix}-`));
}

/** Starts a host (by default on a free port); resolves once it listens. */
export async function startHost(dataDir, listenAddr = '127.0.0.1:0', extraArgs = []) {
  const child = spawn(orreryBin, ['start', '--listen-addr', listenAddr, '--data-dir', dataDir, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`host did not start: ${output}`)), 15000);
    child.stdout.on('data', (d) => {
      output += d;
      const m = output.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.stderr.on('data', (d) => { output += d; });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`host exited with ${code}: ${output}`)); });
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    url,
    output: () => output,
    /** Ctrl-C, then waits for a clean exit. */
    async stop() {
      child.kill('SIGINT');
      return exited;
    },
  };
}

/** Runs the CLI with its own config folder; returns {status, stdout, stderr}. */
export function cli(configDir, args, { input, env } = {}) {
  const r = spawnSync(orreryBin, args, {
    input: input ?? '',
    encoding: 'utf8',
    env: { ...process.env, ORRERY_CONFIG_DIR: configDir, ...env },
    timeout: 30000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The stdout of a CLI run (from `cli`) that must succeed; its stderr otherwise. */
export function ok(r) {
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/** TypeScript bindings made by `orrery generate` (args: `-p PROJECT`, `-j BUNDLE` or
 *  a published database), bundled for Node and imported. */
export async function sdkBindings(name, args) {
  const out = path.join(root, 'build', 'sdk-test', name);
  mkdirSync(path.dirname(out), { recursive: true });
  execFileSync(orreryBin, ['generate', '--lang', 'typescript', '--out-dir', out, ...args], { cwd: root });
  execFileSync(path.join(root, 'node_modules/.bin/esbuild'), [path.join(out, 'index.ts'), '--bundle', '--format=esm',
    '--platform=node', '--external:spacetimedb', '--log-level=warning', `--outfile=${out}.mjs`]);
  return import(`${out}.mjs`);
}

/** Resolves with `check()`'s first truthy value (it may be async; a throw
 *  counts as not yet), polled every `every` ms; rejects after `ms`. */
export async function waitUntil(check, what, ms = 5000, every = 10) {
  const started = Date.now();
  for (;;) {
    let value;
    try { value = await check(); } catch { value = false; }
    if (value) return value;
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

/** A client of `database` through `bindings` (from sdkBindings): resolves
 *  with {conn, identity, token} once connected, and disconnects when test `t`
 *  ends unless the host already closed it. */
export function connectClient(t, bindings, url, database) {
  return new Promise((resolve, reject) => {
    let gone, isGone = false;
    const closed = new Promise((resolve) => { gone = resolve; });
    bindings.DbConnection.builder().withUri(url).withDatabaseName(database)
      .onConnect((conn, identity, token) => {
        t.after(async () => {
          if (isGone) return;
          conn.disconnect();
          await closed;
        });
        resolve({ conn, identity, token });
      })
      .onDisconnect(() => { isGone = true; gone(); })
      .onConnectError((_ctx, e) => reject(e))
      .build();
  });
}

/** Subscribes `conn` to `queries`; resolves once applied, rejects with the host's error. */
export function subscribeTo(conn, queries) {
  return new Promise((resolve, reject) => {
    conn.subscriptionBuilder().onApplied(() => resolve()).onError((_ctx, e) => reject(e ?? new Error('subscription failed')))
      .subscribe(queries);
  });
}
