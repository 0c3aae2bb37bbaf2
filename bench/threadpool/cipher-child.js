'use strict';
/*
 * Section (e) of bench/threadpool.js, its child: AES-256-GCM of N x 1 MiB buffers (a fresh
 * 12-byte IV each) with UV_THREADPOOL_SIZE=2, loop delay p99 beside each contender:
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
 * delay comes from monitorEventLoopDelay({ resolution: 1 }), enabled around each run. Options
 * (JSON argument): the parent's config (rounds, buffers).
 */

const crypto = require('node:crypto');
const { setImmediate: turn } = require('node:timers/promises');
const { measureRun, runRounds } = require('../lib/rounds');
const { MIB, log, gc, loadUvscope, poolOfTwo, mebibyteBuffers, kernelStatsNs, sectionMain } = require('./child-common');

function loadRonomon() {
  try {
    return require('@ronomon/crypto-async');
  } catch (error) {
    return { unavailable: error.message.split('\n')[0] };
  }
}

/** Rounds of every contender in rotating order. */
async function cipher(config) {
  const uv = loadUvscope();
  const tp = uv.threadpool;
  const poolThreads = await poolOfTwo(tp, 'e');
  const key = crypto.randomBytes(32);
  const buffers = mebibyteBuffers(config.buffers);
  const ivs = buffers.map(() => crypto.randomBytes(12));
  const outputs = buffers.map(() => Buffer.alloc(MIB)); // GCM: the ciphertext is as long as the plaintext
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
  return {
    poolThreads,
    ronomon: ronomon.unavailable ? `not installed: ${ronomon.unavailable}` : 'installed',
    contenders: contenders.map(({ name, label }) => ({ name, label })),
    rounds,
    uvscopeEncryptStatsNs: kernelStatsNs(tp.stats().kernels.encrypt),
  };
}

sectionMain('e', cipher);
