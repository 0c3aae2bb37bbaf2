'use strict';
/*
 * Section (e) of bench/threadpool.js: AES-256-GCM of N x 1 MiB buffers (a fresh 12-byte IV
 * each) with UV_THREADPOOL_SIZE=2, loop delay p99 beside each contender:
 *   - uvscope threadpool.encrypt per buffer, all at once, each 1 MiB input read in place and
 *     its ciphertext written into an output buffer that every round reuses (options.output);
 *   - the same with a fresh output per call, allocated by the pool thread (the default): every
 *     round then makes N MiB of new ArrayBuffers, which V8 counts as external memory and
 *     answers with collections on the loop thread;
 *   - crypto.createCipheriv on the main thread, one buffer per loop turn (the loop stays
 *     responsive between buffers, as in section (c));
 *   - crypto.subtle.encrypt (webcrypto) per buffer, all at once: Node runs the job on the libuv
 *     pool too, after copying the input on the main thread;
 *   - @ronomon/crypto-async's cipher per buffer, all at once (one uv_queue_work job per buffer),
 *     its target allocated by the call, and written into the reused outputs (its zero-copy
 *     form), when it is installed.
 * Every contender's ciphertexts and tags are checked against createCipheriv's first. The loop
 * delay comes from monitorEventLoopDelay({ resolution: 1 }), enabled around each run.
 * Runs in the child process of bench/threadpool.js (`--child e`); `summarize` turns its data
 * into the report's table and the ratios against the targets.
 */

const crypto = require('node:crypto');
const { median } = require('./lib/stats');
const { renderTable, formatNumber } = require('./lib/table');
const { measureRun, runRounds } = require('./lib/rounds');

const MIB = 1024 * 1024;
const TARGETS = { ratio: 1.8, delayMs: 5 };

function loadRonomon() {
  try {
    return require('@ronomon/crypto-async');
  } catch (error) {
    return { unavailable: error.message.split('\n')[0] };
  }
}

/** The child: rounds of every contender in rotating order. */
async function child(config, { loadUvscope, gc, log }) {
  const { setImmediate: turn } = require('node:timers/promises');
  const uv = loadUvscope();
  const tp = uv.threadpool;
  const poolThreads = await tp.measureSize();
  if (process.env.UV_THREADPOOL_SIZE !== '2' || poolThreads !== 2) {
    throw new Error(`(e) needs a pool of 2 threads: UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE}, measured ${poolThreads}`);
  }
  const key = crypto.randomBytes(32);
  const seed = crypto.randomBytes(MIB);
  const buffers = [];
  const ivs = [];
  const outputs = [];
  for (let i = 0; i < config.buffers; i++) {
    const b = Buffer.allocUnsafeSlow(MIB);
    seed.copy(b);
    b.writeUInt32LE(i, 0);
    buffers.push(b);
    ivs.push(crypto.randomBytes(12));
    outputs.push(Buffer.alloc(MIB)); // GCM: the ciphertext is as long as the plaintext
  }
  const subtleKey = await crypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
  const ronomon = loadRonomon();

  // Each resolves with [ciphertext, tag] per buffer.
  const contenders = [
    {
      name: 'uvscope',
      label: 'uvscope threadpool.encrypt per buffer, all at once, outputs reused',
      run: () =>
        Promise.all(
          buffers.map((b, i) => tp.encrypt('aes-256-gcm', key, ivs[i], b, { output: outputs[i] }).then((r) => [r.ciphertext, r.authTag])),
        ),
    },
    {
      name: 'uvscopeFresh',
      label: 'uvscope threadpool.encrypt per buffer, all at once, fresh outputs',
      run: () => Promise.all(buffers.map((b, i) => tp.encrypt('aes-256-gcm', key, ivs[i], b).then((r) => [r.ciphertext, r.authTag]))),
    },
    {
      name: 'createCipheriv',
      label: 'crypto.createCipheriv on main thread, 1 buffer/loop turn',
      run: async () => {
        const out = new Array(buffers.length);
        for (let i = 0; i < buffers.length; i++) {
          const c = crypto.createCipheriv('aes-256-gcm', key, ivs[i]);
          out[i] = [Buffer.concat([c.update(buffers[i]), c.final()]), c.getAuthTag()];
          await turn();
        }
        return out;
      },
    },
    {
      name: 'subtle',
      label: 'crypto.subtle.encrypt per buffer, all at once',
      run: () =>
        Promise.all(
          buffers.map((b, i) =>
            crypto.subtle.encrypt({ name: 'AES-GCM', iv: ivs[i] }, subtleKey, b).then((ab) => {
              const all = Buffer.from(ab);
              return [all.subarray(0, all.length - 16), all.subarray(all.length - 16)];
            }),
          ),
        ),
    },
  ];
  if (!ronomon.unavailable) {
    // An empty AAD that still has memory: the addon asserts on a Buffer whose data pointer is NULL.
    const noAad = Buffer.alloc(16).subarray(0, 0);
    // One ronomon cipher call per buffer, all at once: `call(i, tag, done)` starts buffer i.
    const ronomonRun = (call) => () =>
      Promise.all(buffers.map((_, i) => new Promise((resolve, reject) => {
        const tag = Buffer.alloc(16);
        call(i, tag, (error, ciphertext) => (error ? reject(error) : resolve([ciphertext, tag])));
      })));
    contenders.push({
      name: 'ronomonReused',
      label: '@ronomon/crypto-async cipher per buffer, all at once, outputs reused',
      run: ronomonRun((i, tag, done) =>
        ronomon.cipher('aes-256-gcm', 1, key, 0, 32, ivs[i], 0, 12, buffers[i], 0, MIB, outputs[i], 0, noAad, 0, 0, tag, 0, 16, (error, size) =>
          done(error, error ? undefined : outputs[i].subarray(0, size)),
        ),
      ),
    });
    contenders.push({
      name: 'ronomon',
      label: '@ronomon/crypto-async cipher per buffer, all at once, fresh outputs',
      run: ronomonRun((i, tag, done) => ronomon.cipher('aes-256-gcm', 1, key, ivs[i], buffers[i], noAad, tag, done)),
    });
  }

  // Warm-up, and every contender must agree with createCipheriv (checked before the next
  // contender reuses the outputs).
  const reference = contenders.find((c) => c.name === 'createCipheriv');
  const expected = await reference.run();
  for (const c of contenders) {
    for (const o of outputs) o.fill(0);
    const got = await c.run();
    for (let i = 0; i < buffers.length; i++) {
      if (!got[i][0].equals(expected[i][0]) || !got[i][1].equals(expected[i][1])) {
        throw new Error(`(e) ciphertext or tag of buffer ${i} differs between ${c.name} and createCipheriv`);
      }
    }
  }
  tp.resetStats();

  const measure = async (c) => {
    const { result: _ciphertexts, delayP50Ms: _p50, ...numbers } = await measureRun(c.run, { mebibytes: config.buffers, gc });
    return numbers;
  };
  const rounds = await runRounds(contenders, config.rounds, measure, log);
  const stats = tp.stats().kernels.encrypt;
  return {
    poolThreads,
    ronomon: ronomon.unavailable ? `not installed: ${ronomon.unavailable}` : 'installed',
    contenders: contenders.map(({ name, label }) => ({ name, label })),
    rounds,
    uvscopeEncryptStatsNs: stats && { queueWait: stats.queueWait, run: stats.run, returnDelay: stats.returnDelay },
  };
}

/** The report's table and ratios (medians of per-round ratios). */
function summarize(data, { spreadOf, pct }) {
  const rows = [];
  const by = {};
  for (const c of data.contenders) {
    const per = data.rounds.map((r) => r[c.name]);
    const b = {
      mibPerSecond: median(per.map((p) => p.mibPerSecond)),
      ms: median(per.map((p) => p.ms)),
      callMs: median(per.map((p) => p.callMs)),
      delayP99Ms: median(per.map((p) => p.delayP99Ms)),
      delayMaxMs: median(per.map((p) => p.delayMaxMs)),
      delaySamples: median(per.map((p) => p.delaySamples)),
      processCpuMs: median(per.map((p) => p.processCpuMs)),
      ratio: median(data.rounds.map((r) => r[c.name].mibPerSecond / r.createCipheriv.mibPerSecond)),
      spread: spreadOf(per.map((p) => p.mibPerSecond)),
    };
    by[c.name] = b;
    rows.push([
      c.label,
      formatNumber(b.mibPerSecond),
      `${b.ratio.toFixed(2)}×`,
      formatNumber(b.ms),
      b.callMs.toFixed(2),
      b.delaySamples > 0 ? b.delayP99Ms.toFixed(2) : 'no sample',
      b.delaySamples > 0 ? b.delayMaxMs.toFixed(2) : 'no sample',
      formatNumber(b.processCpuMs),
      pct(b.spread),
    ]);
  }
  const vs = (name) => (by[name] ? median(data.rounds.map((r) => r.uvscope.mibPerSecond / r[name].mibPerSecond)) : NaN);
  return {
    by,
    ratio: by.uvscope.ratio,
    delayP99Ms: by.uvscope.delayP99Ms,
    toSubtle: vs('subtle'),
    toRonomon: vs('ronomon'),
    toRonomonReused: vs('ronomonReused'),
    freshRatio: by.uvscopeFresh.ratio,
    freshDelayP99Ms: by.uvscopeFresh.delayP99Ms,
    table: renderTable(
      ['contender', 'MiB/s', 'vs createCipheriv', 'wall ms', 'call ms', 'delay p99 ms', 'delay max ms', 'process CPU ms', 'spread'],
      rows,
    ),
  };
}

module.exports = { child, summarize, TARGETS };
