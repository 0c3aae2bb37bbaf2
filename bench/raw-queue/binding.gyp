{
  # Yardstick for bench/threadpool.js: the smallest fair uv_queue_work round trip through
  # Node-API. noop() returns a promise, queues a uv_work_t whose work callback does nothing,
  # (sha256(buffer) does the same with one EVP_Digest of the buffer, for section (c)),
  # and resolves the deferred in after_work inside a callback scope (one shared async
  # context), so microtasks run there, as in uvscope. Plain Node-API, no dependencies.
  # Build: npm_config_nodedir=/usr node-gyp rebuild (bench/threadpool.js does it if missing).
  "targets": [
    {
      "target_name": "raw_queue",
      "sources": ["raw_queue.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
