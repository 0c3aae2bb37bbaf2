// The JS objects whose native state outlives one pool job: see wrappers.h.
#include "wrappers.h"

#include <openssl/err.h>

#include "arguments.h"

namespace uvscope {

// --- HasherWrap: the incremental state of createHasher() ------------------------------------

void HasherWrap::Init(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = DefineClass(env, "NativeHasher", {}, data);
  exports.Set("NativeHasher", ctor);
}

// new NativeHasher(algorithm, outputLength)
HasherWrap::HasherWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HasherWrap>(info) {
  auto* data = static_cast<AddonData*>(info.Data());
  const EVP_MD* md = DigestOf(data, info[0]);
  state = std::make_shared<HasherState>();
  state->outputLength = SizeArg(info[1]);
  state->ctx = EVP_MD_CTX_new();
  if (state->ctx == nullptr || EVP_DigestInit_ex(state->ctx, md, nullptr) != 1) {
    throw Napi::Error::New(info.Env(), "could not initialise the digest");
  }
}

// --- CipherWrap: the context of createCipher()/createDecipher() -----------------------------

void CipherWrap::Init(Napi::Env env, Napi::Object exports, AddonData* data) {
  exports.Set("NativeCipher", DefineClass(env, "NativeCipher", {}, data));
}

// new NativeCipher(algorithm, flags, tagLength, key, iv): validated in TypeScript.
CipherWrap::CipherWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CipherWrap>(info) {
  auto* data = static_cast<AddonData*>(info.Data());
  state = std::make_shared<CipherState>();
  state->setup = SetupOf(CipherOf(data, info[0]), info[1], info[2]);
  state->ctx = EVP_CIPHER_CTX_new();
  if (state->ctx == nullptr || !InitCipher(state->ctx, state->setup, BytesOf(info[3]), BytesOf(info[4]))) {
    ERR_clear_error();
    throw Napi::Error::New(info.Env(), "could not initialise the cipher");
  }
}

// --- HashManyBatchWrap: the inputs and digests of one hashMany() call -----------------------

void HashManyBatchWrap::Init(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor =
      DefineClass(env, "NativeHashManyBatch", {InstanceMethod<&HashManyBatchWrap::Digests>("digests")}, data);
  exports.Set("NativeHashManyBatch", ctor);
}

// new NativeHashManyBatch(algorithm, inputs: ArrayBufferView[] (a private array), outputLength,
// inPlace: boolean[]): copies the inputs not read in place, now, during the call.
HashManyBatchWrap::HashManyBatchWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<HashManyBatchWrap>(info) {
  auto* data = static_cast<AddonData*>(info.Data());
  Napi::Array inputs = info[1].As<Napi::Array>();
  Napi::Array inPlace = info[3].As<Napi::Array>();
  batch = std::make_shared<HashManyBatch>();
  batch->md = DigestOf(data, info[0]);
  batch->outputLength = SizeArg(info[2]);
  batch->inputs.resize(inputs.Length());
  std::vector<ByteView*> toCopy;
  for (uint32_t i = 0; i < inputs.Length(); i++) {
    batch->inputs[i] = BytesOf(inputs.Get(i));
    if (!inPlace.Get(i).As<Napi::Boolean>().Value()) toCopy.push_back(&batch->inputs[i]);
  }
  Copy copy = CopyInto(toCopy);
  batch->copy = std::move(copy.bytes);
  batch->copyLength = copy.length;
  batch->digests.resize(inputs.Length());
}

// digests(): Buffer[], in input order. Called only after every job of the call has resolved.
Napi::Value HashManyBatchWrap::Digests(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array result = Napi::Array::New(env, batch->digests.size());
  for (uint32_t i = 0; i < batch->digests.size(); i++) {
    const std::vector<uint8_t>& digest = batch->digests[i];
    result.Set(i, Napi::Buffer<uint8_t>::Copy(env, digest.data(), digest.size()));
  }
  return result;
}

// --- BarrierWrap: measureSize()'s rendezvous ------------------------------------------------

void BarrierWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "NativeBarrier",
                                    {InstanceMethod<&BarrierWrap::Arrived>("arrived"),
                                     InstanceMethod<&BarrierWrap::Release>("release")});
  exports.Set("NativeBarrier", ctor);
}

// new NativeBarrier(target?, maxHoldMs?): checked by the TypeScript callers.
BarrierWrap::BarrierWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BarrierWrap>(info) {
  if (info.Length() > 0 && info[0].IsNumber()) barrier->target = info[0].As<Napi::Number>().Uint32Value();
  if (info.Length() > 1 && info[1].IsNumber()) barrier->maxHoldMs = info[1].As<Napi::Number>().DoubleValue();
}

Napi::Value BarrierWrap::Arrived(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), barrier->Arrived());
}

Napi::Value BarrierWrap::Release(const Napi::CallbackInfo& info) {
  barrier->Release();
  return info.Env().Undefined();
}

}  // namespace uvscope
