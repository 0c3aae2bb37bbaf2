// The JS objects whose native state outlives one pool job, each handed to the jobs that use it:
// NativeHasher (createHasher's digest context), NativeCipher (createCipher's OpenSSL context),
// NativeHashManyBatch (the inputs and digests of one hashMany call), NativeBarrier
// (measureSize's rendezvous). Lifetime: the JS wrapper; the state is a shared_ptr also held by
// every job's kernel, so it lives until the last job that uses it settles.
#pragma once
#include <napi.h>

#include <memory>

#include "../addon_data.h"
#include "kernels/kernel.h"

namespace uvscope {

class HasherWrap : public Napi::ObjectWrap<HasherWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports, AddonData* data);
  explicit HasherWrap(const Napi::CallbackInfo& info);
  std::shared_ptr<HasherState> state;
};

// The context of a streaming cipher (createCipher/createDecipher), set up with key and iv at
// construction; each update and final runs as a pool job holding the state.
class CipherWrap : public Napi::ObjectWrap<CipherWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports, AddonData* data);
  explicit CipherWrap(const Napi::CallbackInfo& info);
  std::shared_ptr<CipherState> state;
};

class HashManyBatchWrap : public Napi::ObjectWrap<HashManyBatchWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports, AddonData* data);
  explicit HashManyBatchWrap(const Napi::CallbackInfo& info);
  std::shared_ptr<HashManyBatch> batch;

 private:
  Napi::Value Digests(const Napi::CallbackInfo& info);
};

class BarrierWrap : public Napi::ObjectWrap<BarrierWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit BarrierWrap(const Napi::CallbackInfo& info);
  std::shared_ptr<HoldBarrier> barrier = std::make_shared<HoldBarrier>();

 private:
  Napi::Value Arrived(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
};

}  // namespace uvscope
