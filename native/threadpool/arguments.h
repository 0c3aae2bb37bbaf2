// The arguments of a pool submission, read on the loop thread during the submitting call
// (validated in TypeScript first): the bytes of views, copies of inputs a job must not read in
// place, the caller's output memory, digests and ciphers by name, cipher setup flags. Plain
// functions over the call's values: nothing outlives the call but the copies, which the kernel
// adopts.
#pragma once
#include <napi.h>

#include <cstring>
#include <memory>
#include <vector>

#include "../addon_data.h"
#include "../typed_args.h"
#include "kernels/kernel.h"

namespace uvscope {


inline ByteView BytesOf(Napi::Value value) {
  napi_env env = value.Env();
  ByteView view;
  void* data = nullptr;
  size_t length = 0;
  bool isTypedArray = false, isDataView = false;
  napi_is_typedarray(env, value, &isTypedArray);
  if (isTypedArray) {
    napi_typedarray_type type;
    size_t elements;
    NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, value, &type, &elements, &data, nullptr, nullptr), view);
    size_t elementBytes = ElementBytes(type);
    if (elementBytes == 0) throw ArgTypeError(value.Env(), "data", "an ArrayBufferView of a known element size");
    length = elements * elementBytes;
  } else if (napi_is_dataview(env, value, &isDataView), isDataView) {
    NAPI_THROW_IF_FAILED(env, napi_get_dataview_info(env, value, &length, &data, nullptr, nullptr), view);
  } else {
    throw ArgTypeError(value.Env(), "data", "an ArrayBufferView");
  }
  if (length == 0 && IsDetachedView(env, value)) {
    // Detached since TypeScript checked it (an option getter run after the check): refused,
    // never read as empty.
    Napi::TypeError error = Napi::TypeError::New(value.Env(), "The argument 'data' must not be a detached buffer");
    error.Set("code", Napi::String::New(value.Env(), "ERR_INVALID_ARG_VALUE"));
    throw error;
  }
  view.data = static_cast<const uint8_t*>(data);
  view.length = length;
  return view;
}

// Whether `output`'s memory overlaps `input`'s (both views of the caller's, before any copy).
inline bool Overlaps(const OutputView& output, const ByteView& input) {
  return output.data != nullptr && output.capacity != 0 && input.length != 0 &&
         output.data < input.data + input.length && input.data < output.data + output.capacity;
}

inline const EVP_MD* DigestOf(AddonData* data, Napi::Value name) {
  const EVP_MD* md = data->digests.Get(name.As<Napi::String>().Utf8Value());
  if (md == nullptr) throw Napi::Error::New(name.Env(), "unknown digest");
  return md;
}

inline size_t SizeArg(Napi::Value value) { return static_cast<size_t>(value.As<Napi::Number>().Int64Value()); }

// Copies the bytes of `views` (valid now, during the submitting call) into one allocation the
// kernel will own, and points the views at it; nullptr when there is nothing to copy.
// Node-API cannot pin a JS ArrayBuffer's memory: a buffer transferred away while its job reads
// it in place could be freed under the pool thread. Native memory, not a JS copy: freed as
// soon as the job settles (not at some later GC), so malloc hands the same warm pages back to
// the next job instead of faulting in fresh ones. Its owner wipes its `length` bytes before
// freeing them (Kernel::AdoptInput, HashManyBatch::copyLength): they may be keys or passwords.
struct Copy {
  std::unique_ptr<uint8_t[]> bytes;
  size_t length = 0;
};
inline Copy CopyInto(const std::vector<ByteView*>& views) {
  Copy copy;
  for (const ByteView* view : views) copy.length += view->length;
  if (copy.length == 0) return copy;
  copy.bytes.reset(new uint8_t[copy.length]);  // uninitialised: every byte is written
  size_t offset = 0;
  for (ByteView* view : views) {
    if (view->length == 0) continue;
    std::memcpy(copy.bytes.get() + offset, view->data, view->length);
    view->data = copy.bytes.get() + offset;
    offset += view->length;
  }
  return copy;
}

// One input a kernel reads, read in place or copied as `inPlace` (a JS boolean) says: `view`
// points into `copy`, or into the JS value, which the job must then keep referenced (`keep`).
struct Input {
  ByteView view;
  Copy copy;
  Napi::Value keep;
};

inline Input InputOf(Napi::Value value, Napi::Value inPlace) {
  Input input{BytesOf(value), Copy(), value};
  if (!inPlace.As<Napi::Boolean>().Value()) {
    input.copy = CopyInto({&input.view});
    input.keep = Napi::Value();
  }
  return input;
}

// Memory of the caller's a kernel writes into (a view validated in TypeScript: attached, not
// resizable), or none for undefined. The data pointer is stable: napi_get_typedarray_info
// moves a small on-heap typed array's bytes off the heap first.
inline OutputView OutputOf(Napi::Value value) {
  OutputView output;
  if (value.IsUndefined()) return output;
  ByteView view = BytesOf(value);
  output.data = const_cast<uint8_t*>(view.data);
  output.capacity = view.length;
  return output;
}

inline const EVP_CIPHER* CipherOf(AddonData* data, Napi::Value name) {
  const EVP_CIPHER* cipher = data->ciphers.Cipher(name.As<Napi::String>().Utf8Value());
  if (cipher == nullptr) throw Napi::Error::New(name.Env(), "unknown cipher");
  return cipher;
}

// Cipher setup flags, shared with src/pool/cipher.ts.
enum CipherFlags : uint32_t { kCipherEncrypt = 1, kCipherAead = 2, kCipherPadding = 4 };

inline CipherSetup SetupOf(const EVP_CIPHER* cipher, Napi::Value flags, Napi::Value tagLength) {
  uint32_t bits = flags.As<Napi::Number>().Uint32Value();
  CipherSetup setup;
  setup.cipher = cipher;
  setup.encrypt = bits & kCipherEncrypt;
  setup.aead = bits & kCipherAead;
  setup.padding = bits & kCipherPadding;
  setup.tagLength = SizeArg(tagLength);
  return setup;
}


}  // namespace uvscope
