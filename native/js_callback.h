// Calling a JavaScript function from a libuv callback on the loop thread (an observer's marker,
// a watchdog's async handle, a live-report subscription). Plain Node-API calls, checked one by
// one: while a worker is being terminated the loop finishes its iteration but JavaScript can no
// longer run, and every call may fail; that must end quietly, never in a C++ exception thrown
// through libuv. Stateless.
#pragma once
#include <node_api.h>

#include <string>

namespace uvscope {

// fn(...args) through napi_make_callback, so that process.nextTick and promise callbacks queued
// by it run before the loop moves on, as after any other callback. A throw is an uncaught
// exception, as it would be in a timer callback. The caller holds a handle scope.
inline void MakeCallback(napi_env env, napi_async_context context, napi_ref fn, size_t argc, const napi_value* args) {
  napi_value function, result;
  if (napi_get_reference_value(env, fn, &function) != napi_ok || function == nullptr) return;
  napi_status status = napi_make_callback(env, context, function, function, argc, args, &result);
  bool pending = false;
  if (status != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
}

// fn(text), in a handle scope of its own.
inline void CallWithString(napi_env env, napi_async_context context, napi_ref fn, const std::string& text) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value arg;
  if (napi_create_string_utf8(env, text.data(), text.size(), &arg) == napi_ok) MakeCallback(env, context, fn, 1, &arg);
  napi_close_handle_scope(env, scope);
}

}  // namespace uvscope
