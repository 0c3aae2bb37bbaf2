// Yardstick addon for bench/observer.js: one uv_prepare_t + one uv_check_t on the calling
// environment's loop, unref'd, whose callbacks either do nothing ("empty") or each store
// uv_hrtime() into a volatile global ("clock"). Measures what merely having a watcher pair
// costs per loop iteration, so uvscope's overhead can be compared with it.
//
// JS API:  start(mode: 'empty' | 'clock'): void   (one pair per process; throws if running)
//          stop(): void                            (uv_close both handles; idempotent)
//          sink(): bigint                          (last value the clock callbacks stored)
//          active(): boolean                       (both handles active)
#include <node_api.h>
#include <uv.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

volatile uint64_t g_prepareSink = 0;
volatile uint64_t g_checkSink = 0;

struct Pair {
  uv_prepare_t prepare;
  uv_check_t check;
  int open = 0;
};

Pair* g_pair = nullptr;  // the bench uses the main thread only

void EmptyPrepare(uv_prepare_t*) {}
void EmptyCheck(uv_check_t*) {}
void ClockPrepare(uv_prepare_t*) { g_prepareSink = uv_hrtime(); }
void ClockCheck(uv_check_t*) { g_checkSink = uv_hrtime(); }

void OnClosed(uv_handle_t* handle) {
  Pair* pair = static_cast<Pair*>(handle->data);
  if (--pair->open == 0) delete pair;
}

napi_value Throw(napi_env env, const char* message) {
  napi_throw_error(env, nullptr, message);
  return nullptr;
}

napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char mode[16] = {0};
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], mode, sizeof(mode), &len) != napi_ok) {
    return Throw(env, "start(mode): mode must be 'empty' or 'clock'");
  }
  bool clock;
  if (std::strcmp(mode, "empty") == 0) {
    clock = false;
  } else if (std::strcmp(mode, "clock") == 0) {
    clock = true;
  } else {
    return Throw(env, "start(mode): mode must be 'empty' or 'clock'");
  }
  if (g_pair != nullptr) return Throw(env, "start(): already running");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    return Throw(env, "could not get the libuv loop");
  }
  Pair* pair = new Pair();
  uv_prepare_init(loop, &pair->prepare);
  uv_check_init(loop, &pair->check);
  pair->prepare.data = pair;
  pair->check.data = pair;
  pair->open = 2;
  uv_unref(reinterpret_cast<uv_handle_t*>(&pair->prepare));
  uv_unref(reinterpret_cast<uv_handle_t*>(&pair->check));
  uv_prepare_start(&pair->prepare, clock ? ClockPrepare : EmptyPrepare);
  uv_check_start(&pair->check, clock ? ClockCheck : EmptyCheck);
  g_pair = pair;
  return nullptr;
}

napi_value Stop(napi_env, napi_callback_info) {
  if (g_pair != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(&g_pair->prepare), OnClosed);
    uv_close(reinterpret_cast<uv_handle_t*>(&g_pair->check), OnClosed);
    g_pair = nullptr;
  }
  return nullptr;
}

napi_value Sink(napi_env env, napi_callback_info) {
  uint64_t last = g_prepareSink > g_checkSink ? g_prepareSink : g_checkSink;
  napi_value result;
  napi_create_bigint_uint64(env, last, &result);
  return result;
}

napi_value Active(napi_env env, napi_callback_info) {
  bool active = g_pair != nullptr &&
                uv_is_active(reinterpret_cast<uv_handle_t*>(&g_pair->prepare)) &&
                uv_is_active(reinterpret_cast<uv_handle_t*>(&g_pair->check));
  napi_value result;
  napi_get_boolean(env, active, &result);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", nullptr, Start, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stop", nullptr, Stop, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sink", nullptr, Sink, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"active", nullptr, Active, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
