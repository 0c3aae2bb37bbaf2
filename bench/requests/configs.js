'use strict';
// The configurations bench/requests.js compares, and how a child turns one on and off. Every
// child loads uvscope whatever its configuration, so every child carries the same code.

const { LIB } = require('../lib/main');

const CONFIGS = {
  baseline: 'no monitor',
  'async-hook': 'async_hooks.createHook({ init() {} }).enable()',
  'async-hook-ba': 'async_hooks.createHook({ init() {}, before() {}, after() {} }).enable()',
  monitor: 'monitorPoolRequests() (fsOperations: true: no async_hooks)',
  'monitor-fs-off': 'monitorPoolRequests({ fsOperations: false }) (async_hooks)',
  prior: 'monitorPoolRequests() of another build of uvscope (--prior DIR: its lib/)',
};

/**
 * Starts what `config` measures; returns { monitor (or null), stop() }. stop() ends it (a
 * monitor stops, a hook is disabled), so that a child can alternate it with no monitor.
 * `priorLib`: the lib/ of the build configuration `prior` monitors with.
 */
function startConfig(config, priorLib) {
  const { monitorPoolRequests } = require(LIB);
  const hook = (callbacks) => {
    const h = require('node:async_hooks').createHook(callbacks).enable();
    return { monitor: null, stop: () => h.disable() };
  };
  const monitoring = (options) => {
    const monitor = monitorPoolRequests(options);
    return { monitor, stop: () => monitor.stop() };
  };
  switch (config) {
    case 'baseline':
      return { monitor: null, stop() {} };
    case 'async-hook':
      return hook({ init() {} });
    case 'async-hook-ba':
      return hook({ init() {}, before() {}, after() {} });
    case 'monitor':
      return monitoring();
    case 'monitor-fs-off':
      return monitoring({ fsOperations: false });
    case 'prior': {
      if (!priorLib) throw new Error('configuration prior needs --prior DIR');
      const monitor = require(priorLib).monitorPoolRequests();
      return { monitor, stop: () => monitor.stop() };
    }
    default:
      throw new Error(`unknown configuration ${config}`);
  }
}

module.exports = { CONFIGS, startConfig };
