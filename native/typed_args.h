// Typed-array arguments read on the loop thread, checked before their memory is touched: the
// bytes of any ArrayBufferView by its real byte length, and the Float64Array/BigUint64Array
// out-parameters of stats calls. A kind of view whose element size this file does not know is
// refused (TypeError, code ERR_INVALID_ARG_TYPE), never read as empty: node-addon-api 8.9's
// TypedArray::ElementSize() says 0 for Node 24's Float16Array, which made a hash of one read
// zero bytes.
// Lifetime: the pointers returned are valid during the current call only.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace uvscope {

// Bytes per element of a typed array kind; 0 for a kind unknown here.
inline size_t ElementBytes(napi_typedarray_type type) {
  switch (static_cast<int>(type)) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
    case 11:  // napi_float16_array (Node 24+; not in Node 20's headers)
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      return 8;
    default:
      return 0;
  }
}

// Whether the ArrayBuffer behind `value` (an ArrayBuffer, a typed array or a DataView) has been
// detached (transferred away): its views then read as empty.
inline bool IsDetachedView(napi_env env, napi_value value) {
  napi_value arrayBuffer = value;
  bool isTypedArray = false, isDataView = false, detached = false;
  napi_is_typedarray(env, value, &isTypedArray);
  napi_is_dataview(env, value, &isDataView);
  if (isTypedArray) {
    napi_get_typedarray_info(env, value, nullptr, nullptr, nullptr, &arrayBuffer, nullptr);
  } else if (isDataView) {
    napi_get_dataview_info(env, value, nullptr, nullptr, &arrayBuffer, nullptr);
  }
  napi_is_detached_arraybuffer(env, arrayBuffer, &detached);
  return detached;
}

inline Napi::TypeError ArgTypeError(Napi::Env env, const char* name, const char* expected) {
  Napi::TypeError error = Napi::TypeError::New(env, std::string("The \"") + name + "\" argument must be " + expected);
  error.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  return error;
}

// Data pointer and element count of a typed array argument of exactly `kind`.
template <typename T>
T* TypedArrayArg(Napi::Value value, napi_typedarray_type kind, const char* name, const char* expected,
                 size_t* elements) {
  napi_env env = value.Env();
  bool isTypedArray = false;
  napi_typedarray_type type;
  void* data = nullptr;
  if (napi_is_typedarray(env, value, &isTypedArray) != napi_ok || !isTypedArray ||
      napi_get_typedarray_info(env, value, &type, elements, &data, nullptr, nullptr) != napi_ok || type != kind) {
    throw ArgTypeError(value.Env(), name, expected);
  }
  return static_cast<T*>(data);
}

inline double* Float64ArrayArg(Napi::Value value, const char* name, size_t* elements) {
  return TypedArrayArg<double>(value, napi_float64_array, name, "a Float64Array", elements);
}

inline uint64_t* BigUint64ArrayArg(Napi::Value value, const char* name, size_t* elements) {
  return TypedArrayArg<uint64_t>(value, napi_biguint64_array, name, "a BigUint64Array", elements);
}

}  // namespace uvscope
