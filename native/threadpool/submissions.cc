// The submission adapters of WorkQueueWrap: each parses its kernel's arguments (validated in
// TypeScript) during the submitting call, builds the kernel and hands it to Submit(). Bound
// to their queue by WorkQueueWrap::BindSubmissions (work_queue.cc). Loop thread only.
#include "arguments.h"
#include "work_queue.h"
#include "wrappers.h"

namespace uvscope {

Napi::Value WorkQueueWrap::Noop(const Napi::CallbackInfo& info) {
  Job* job = NewJob();
  job->kernel = sharedNoop_.get();
  job->ownsKernel = false;
  return SubmitJob(info, 0, job, Napi::Value(), Napi::Value());
}

Napi::Value WorkQueueWrap::Spin(const Napi::CallbackInfo& info) {
  return Submit(info, 1, MakeSpinKernel(info[0].As<Napi::Number>().DoubleValue()));
}

Napi::Value WorkQueueWrap::Sleep(const Napi::CallbackInfo& info) {
  return Submit(info, 1, MakeSleepKernel(info[0].As<Napi::Number>().DoubleValue()));
}

// hash(algorithm, data, outputLength, inPlace, control)
Napi::Value WorkQueueWrap::Hash(const Napi::CallbackInfo& info) {
  const EVP_MD* md = DigestOf(data_, info[0]);
  Input data = InputOf(info[1], info[3]);
  std::unique_ptr<Kernel> kernel = MakeHashKernel(md, data.view, SizeArg(info[2]));
  kernel->AdoptInput(std::move(data.copy.bytes), data.copy.length);
  return Submit(info, 4, std::move(kernel), data.keep);
}

// hashMany(batch, inputs (the batch's private array, kept alive for in-place reads), control):
// one job of a hashMany() call.
Napi::Value WorkQueueWrap::HashMany(const Napi::CallbackInfo& info) {
  HashManyBatchWrap* batch = HashManyBatchWrap::Unwrap(info[0].As<Napi::Object>());
  return Submit(info, 2, MakeHashManyKernel(batch->batch), info[0], info[1]);
}

// hmac(algorithm, key, data, inPlace, control)
Napi::Value WorkQueueWrap::Hmac(const Napi::CallbackInfo& info) {
  const EVP_MD* md = DigestOf(data_, info[0]);
  Input data = InputOf(info[2], info[3]);
  std::unique_ptr<Kernel> kernel = MakeHmacKernel(md, BytesOf(info[1]), data.view);
  kernel->AdoptInput(std::move(data.copy.bytes), data.copy.length);
  return Submit(info, 4, std::move(kernel), info[1], data.keep);
}

// hashFile(path: Buffer (the bytes the OS gets, as fs passes them), algorithm, outputLength, control)
Napi::Value WorkQueueWrap::HashFile(const Napi::CallbackInfo& info) {
  const EVP_MD* md = DigestOf(data_, info[1]);
  ByteView path = BytesOf(info[0]);
  return Submit(info, 3,
                MakeHashFileKernel(md, std::string(reinterpret_cast<const char*>(path.data), path.length),
                                   SizeArg(info[2])));
}

// pbkdf2(password, salt, iterations, keylen, digest, flags, cancelId)
Napi::Value WorkQueueWrap::Pbkdf2(const Napi::CallbackInfo& info) {
  const EVP_MD* md = DigestOf(data_, info[4]);
  return Submit(info, 5,
                MakePbkdf2Kernel(md, BytesOf(info[0]), BytesOf(info[1]), info[2].As<Napi::Number>().Uint32Value(),
                                 SizeArg(info[3])),
                info[0], info[1]);
}

// scrypt(password, salt, keylen, N, r, p, maxmem, flags, cancelId)
Napi::Value WorkQueueWrap::Scrypt(const Napi::CallbackInfo& info) {
  auto u64 = [&](size_t i) { return static_cast<uint64_t>(info[i].As<Napi::Number>().DoubleValue()); };
  return Submit(info, 7,
                MakeScryptKernel(BytesOf(info[0]), BytesOf(info[1]), SizeArg(info[2]), u64(3), u64(4), u64(5),
                                 u64(6)),
                info[0], info[1]);
}

// hasherUpdate(hasher, data, flags, cancelId)
Napi::Value WorkQueueWrap::HasherUpdate(const Napi::CallbackInfo& info) {
  HasherWrap* hasher = HasherWrap::Unwrap(info[0].As<Napi::Object>());
  // Read in place: TypeScript hands over a private copy when one is due (Hasher.update).
  return Submit(info, 2, MakeHasherUpdateKernel(hasher->state, BytesOf(info[1])), info[0], info[1]);
}

// hasherDigest(hasher, flags, cancelId)
Napi::Value WorkQueueWrap::HasherDigest(const Napi::CallbackInfo& info) {
  HasherWrap* hasher = HasherWrap::Unwrap(info[0].As<Napi::Object>());
  return Submit(info, 1, MakeHasherDigestKernel(hasher->state), info[0]);
}

// cipher(algorithm, flags, tagLength, key, iv, aad, tag, input, inPlace, output, tagTarget,
// control): one-shot encryption or decryption. Key, iv, aad and tag are copied here (small,
// and so never read from small on-heap typed arrays later); the input as `inPlace` says.
// `output` (or undefined) is written in place by the pool thread and stays referenced until
// the job settles; an AEAD encryption's tag is copied into `tagTarget` (or undefined) then.
Napi::Value WorkQueueWrap::Cipher(const Napi::CallbackInfo& info) {
  CipherSetup setup = SetupOf(CipherOf(data_, info[0]), info[1], info[2]);
  ByteView key = BytesOf(info[3]), iv = BytesOf(info[4]), aad = BytesOf(info[5]), tag = BytesOf(info[6]);
  ByteView input = BytesOf(info[7]);
  bool inPlace = info[8].As<Napi::Boolean>().Value();
  OutputView output = OutputOf(info[9]);
  bool overwritesInput = Overlaps(output, input);  // before the copy: the caller's own bytes
  std::vector<ByteView*> toCopy{&key, &iv, &aad, &tag};
  if (!inPlace) toCopy.push_back(&input);
  Copy copy = CopyInto(toCopy);
  Napi::Object tagTarget = info[10].IsUndefined() ? Napi::Object() : info[10].As<Napi::Object>();
  std::unique_ptr<Kernel> kernel = MakeCipherKernel(setup, key, iv, aad, tag, input, output, tagTarget);
  kernel->AdoptInput(std::move(copy.bytes), copy.length);
  return Submit(info, 11, std::move(kernel), inPlace ? info[7] : Napi::Value(),
                info[9].IsUndefined() ? Napi::Value() : info[9], overwritesInput);
}

// cipherUpdate(cipher, aad, input, inPlace, output, control): `output` (or undefined) is
// written in place and stays referenced until the job settles.
Napi::Value WorkQueueWrap::CipherUpdate(const Napi::CallbackInfo& info) {
  CipherWrap* cipher = CipherWrap::Unwrap(info[0].As<Napi::Object>());
  ByteView aad = BytesOf(info[1]), input = BytesOf(info[2]);
  bool inPlace = info[3].As<Napi::Boolean>().Value();
  OutputView output = OutputOf(info[4]);
  bool overwritesInput = Overlaps(output, input);
  std::vector<ByteView*> toCopy{&aad};
  if (!inPlace) toCopy.push_back(&input);
  Copy copy = CopyInto(toCopy);
  std::unique_ptr<Kernel> kernel = MakeCipherUpdateKernel(cipher->state, aad, input, output);
  kernel->AdoptInput(std::move(copy.bytes), copy.length);
  return Submit(info, 5, std::move(kernel), inPlace ? info[2] : Napi::Value(),
                info[4].IsUndefined() ? Napi::Value() : info[4], overwritesInput);
}

// cipherFinal(cipher, aad, tag, control)
Napi::Value WorkQueueWrap::CipherFinal(const Napi::CallbackInfo& info) {
  CipherWrap* cipher = CipherWrap::Unwrap(info[0].As<Napi::Object>());
  ByteView aad = BytesOf(info[1]), tag = BytesOf(info[2]);
  Copy copy = CopyInto({&aad, &tag});
  std::unique_ptr<Kernel> kernel = MakeCipherFinalKernel(cipher->state, aad, tag);
  kernel->AdoptInput(std::move(copy.bytes), copy.length);
  return Submit(info, 3, std::move(kernel));
}

// hkdf(digest, key, salt, info, keylen, control)
Napi::Value WorkQueueWrap::Hkdf(const Napi::CallbackInfo& info) {
  const EVP_MD* md = DigestOf(data_, info[0]);
  ByteView key = BytesOf(info[1]), salt = BytesOf(info[2]), label = BytesOf(info[3]);
  Copy copy = CopyInto({&key, &salt, &label});
  std::unique_ptr<Kernel> kernel = MakeHkdfKernel(md, key, salt, label, SizeArg(info[4]));
  kernel->AdoptInput(std::move(copy.bytes), copy.length);
  return Submit(info, 5, std::move(kernel));
}

// argon2(kdfName, message, nonce, secret, associatedData, parallelism, tagLength, memory, passes,
// control); TypeScript checked with kdfAvailable() that the running OpenSSL has the KDF.
Napi::Value WorkQueueWrap::Argon2(const Napi::CallbackInfo& info) {
  Argon2Params params;
  params.kdf = data_->ciphers.Kdf(info[0].As<Napi::String>().Utf8Value());
  if (params.kdf == nullptr) throw Napi::Error::New(info.Env(), "Argon2 is not available");
  params.message = BytesOf(info[1]);
  params.nonce = BytesOf(info[2]);
  params.secret = BytesOf(info[3]);
  params.associatedData = BytesOf(info[4]);
  params.parallelism = info[5].As<Napi::Number>().Uint32Value();
  params.tagLength = info[6].As<Napi::Number>().Uint32Value();
  params.memory = info[7].As<Napi::Number>().Uint32Value();
  params.passes = info[8].As<Napi::Number>().Uint32Value();
  Copy copy = CopyInto({&params.message, &params.nonce, &params.secret, &params.associatedData});
  std::unique_ptr<Kernel> kernel = MakeArgon2Kernel(params);
  kernel->AdoptInput(std::move(copy.bytes), copy.length);
  return Submit(info, 9, std::move(kernel));
}

// probe(): an empty job outside the statistics; resolves with its queue wait in ns.
Napi::Value WorkQueueWrap::Probe(const Napi::CallbackInfo& info) {
  return Submit(info, 0, MakeNoopKernel(kKernelProbe));
}

// hold(barrier, flags, cancelId): blocks a pool thread until the barrier is released.
Napi::Value WorkQueueWrap::Hold(const Napi::CallbackInfo& info) {
  BarrierWrap* barrier = BarrierWrap::Unwrap(info[0].As<Napi::Object>());
  return Submit(info, 1, MakeHoldKernel(barrier->barrier), info[0]);
}

}  // namespace uvscope
