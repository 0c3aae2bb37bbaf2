// Argon2 (RFC 9106: argon2d, argon2i, argon2id) on a pool thread through OpenSSL's EVP_KDF,
// present from OpenSSL 3.2 (Node 22 and later). The addon is built against OpenSSL 3.0's
// headers, which know no Argon2: the KDF is fetched by name at run time (CipherCache::Kdf)
// and its parameters are passed by their string keys, so the same binary derives Argon2 on a
// Node whose OpenSSL has it. One derivation cannot be interrupted: abort only cancels it
// while it is queued. OpenSSL is asked for one thread: the lanes (`parallelism`) are computed
// in turn on this pool thread, which gives the same tag as computing them in parallel.
// The password, nonce, secret and associated data are the kernel's adopted input copy (wiped by
// Kernel::Run); the copies OpenSSL takes are OpenSSL's to wipe (test/threadpool/threadpool-hygiene.test.ts
// finds none of them freed unwiped, with Node 24's OpenSSL 3.5).
#include <openssl/core.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "kernel.h"

namespace uvscope {

namespace {

class Argon2Kernel : public Kernel {
 public:
  explicit Argon2Kernel(const Argon2Params& params) : Kernel(kKernelArgon2), params_(params) {}

  void Execute(const std::atomic<bool>&) override {
    static uint8_t kEmpty = 0;
    auto octets = [](const char* key, ByteView v) {
      return OSSL_PARAM_construct_octet_string(key, v.length ? const_cast<uint8_t*>(v.data) : &kEmpty, v.length);
    };
    uint32_t threads = 1;
    OSSL_PARAM list[9];
    size_t n = 0;
    list[n++] = octets("pass", params_.message);
    list[n++] = octets("salt", params_.nonce);
    if (params_.secret.length) list[n++] = octets("secret", params_.secret);
    if (params_.associatedData.length) list[n++] = octets("ad", params_.associatedData);
    list[n++] = OSSL_PARAM_construct_uint32("iter", &params_.passes);
    list[n++] = OSSL_PARAM_construct_uint32("lanes", &params_.parallelism);
    list[n++] = OSSL_PARAM_construct_uint32("memcost", &params_.memory);
    list[n++] = OSSL_PARAM_construct_uint32("threads", &threads);
    list[n++] = OSSL_PARAM_construct_end();
    // The tag is as long as asked (up to 4 GiB, which TypeScript allows): resize() may throw
    // std::bad_alloc, which Kernel::Run reports. OpenSSL allocates the memory blocks itself and
    // reports a failure through its error queue.
    output_.resize(params_.tagLength);
    KdfContext ctx(EVP_KDF_CTX_new(params_.kdf));
    bool ok = ctx && EVP_KDF_derive(ctx.get(), output_.data(), output_.size(), list) == 1;
    if (!ok) {
      output_.clear();  // what was written is wiped when the kernel is freed
      FailOpenSsl("argon2");
    }
    bytes_ = params_.message.length;
  }

 private:
  Argon2Params params_;
};

}  // namespace

std::unique_ptr<Kernel> MakeArgon2Kernel(const Argon2Params& params) { return std::make_unique<Argon2Kernel>(params); }

}  // namespace uvscope
