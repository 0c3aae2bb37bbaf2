'use strict';
// The configurations bench/requests.js compares, and how a child starts one. Every child
// loads uvscope whatever its configuration, so every child carries the same code.

const { LIB } = require('../lib/main');

const CONFIGS = {
  baseline: 'no monitor',
  'async-hook': 'async_hooks.createHook({ init() {} }).enable()',
  'async-hook-ba': 'async_hooks.createHook({ init() {}, before() {}, after() {} }).enable()',
  monitor: 'monitorPoolRequests() (fsOperations: true)',
  'monitor-fs-off': 'monitorPoolRequests({ fsOperations: false })',
};

/** Starts what `config` measures; returns the monitor, if one. */
function startConfig(config) {
  const { monitorPoolRequests } = require(LIB);
  switch (config) {
    case 'baseline':
      return null;
    case 'async-hook':
      require('node:async_hooks').createHook({ init() {} }).enable();
      return null;
    case 'async-hook-ba':
      require('node:async_hooks').createHook({ init() {}, before() {}, after() {} }).enable();
      return null;
    case 'monitor':
      return monitorPoolRequests();
    case 'monitor-fs-off':
      return monitorPoolRequests({ fsOperations: false });
    default:
      throw new Error(`unknown configuration ${config}`);
  }
}

module.exports = { CONFIGS, startConfig };
