{
  # Yardstick for bench/observer.js: the cheapest possible libuv loop watchers (an empty
  # prepare+check pair, or one reading uv_hrtime() each), to put uvscope's overhead in scale.
  # Plain Node-API (C), no dependencies. Build: npm_config_nodedir=/usr node-gyp rebuild
  "targets": [
    {
      "target_name": "empty_watchers",
      "sources": ["empty_watchers.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
