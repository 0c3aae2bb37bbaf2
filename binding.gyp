{
  "targets": [
    {
      "target_name": "uvscope",
      "sources": [
        "native/addon.cc",
        "native/loop/observer.cc",
        "native/loop/observer_wrap.cc",
        "native/loop/trace_ring.cc",
        "native/loop/loop_clock.cc",
        "native/loop/loop_idle_time.cc",
        "native/loop/loop_timer_heap.cc",
        "native/loop/heartbeat.cc",
        "native/loop/live_reports.cc",
        "native/loop/report_sink.cc",
        "native/loop/stall_watchdog.cc",
        "native/loop/stall_watchdog_wrap.cc",
        "native/loop/stall_report_json.cc",
        "native/loop/thread_cpu.cc",
        "native/loop/request_table.cc",
        "native/threadpool/work_queue.cc",
        "native/threadpool/pool_threads.cc",
        "native/threadpool/job_priority.cc",
        "native/threadpool/cpu_spread.cc",
        "native/threadpool/submissions.cc",
        "native/threadpool/wrappers.cc",
        "native/threadpool/digests.cc",
        "native/threadpool/ciphers.cc",
        "native/threadpool/kernels/hash.cc",
        "native/threadpool/kernels/kdf.cc",
        "native/threadpool/kernels/cipher.cc",
        "native/threadpool/kernels/argon2.cc",
        "native/threadpool/kernels/synthetic.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      }
    },
    {
      "target_name": "uvscope_stack",
      "sources": [
        "native/stack/stack_addon.cc",
        "native/stack/provider.cc",
        "native/stack/token_registry.cc",
        "native/stack/capture.cc",
        "native/stack/async_context.cc",
        "native/stack/test_hook.cc"
      ],
      "cflags_cc": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
