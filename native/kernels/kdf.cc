// Key derivation kernels: PBKDF2 (RFC 8018), scrypt (RFC 7914) and HKDF (RFC 5869) on a
// pool thread (Argon2 is in argon2.cc).
// PBKDF2 is written out over HMAC, the way OpenSSL's own implementation is, so that a
// running derivation can stop at an abort between chunks of iterations; scrypt runs in
// one EVP_PBE_scrypt call (it cannot be interrupted: abort only cancels it while queued).
#include <openssl/err.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>

#include "kernel.h"

namespace uvscope {

namespace {

constexpr uint32_t kIterationsPerAbortCheck = 4096;

class Pbkdf2Kernel : public Kernel {
 public:
  Pbkdf2Kernel(const EVP_MD* md, ByteView password, ByteView salt, uint32_t iterations, size_t keylen)
      : Kernel(kKernelPbkdf2), md_(md), password_(password), salt_(salt),
        iterations_(iterations), keylen_(keylen) {}

  void Run(const std::atomic<bool>& abort) override {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    static const uint8_t kEmpty = 0;
    output_.resize(keylen_);
    HMAC_CTX* keyed = HMAC_CTX_new();  // HMAC state with the password absorbed, copied per step
    HMAC_CTX* step = HMAC_CTX_new();
    int size = EVP_MD_get_size(md_);
    size_t mdLength = size > 0 ? static_cast<size_t>(size) : 0;
    bool ok = mdLength > 0 && keyed != nullptr && step != nullptr &&
              HMAC_Init_ex(keyed, password_.length ? password_.data : &kEmpty,
                           static_cast<int>(password_.length), md_, nullptr) == 1;
    uint8_t u[EVP_MAX_MD_SIZE];
    uint8_t t[EVP_MAX_MD_SIZE];
    for (uint32_t block = 1; ok && (block - 1) * mdLength < keylen_; block++) {
      if (abort.load(std::memory_order_relaxed)) {
        aborted_ = true;
        break;
      }
      uint8_t index[4] = {static_cast<uint8_t>(block >> 24), static_cast<uint8_t>(block >> 16),
                          static_cast<uint8_t>(block >> 8), static_cast<uint8_t>(block)};
      ok = HMAC_CTX_copy(step, keyed) == 1 &&
           HMAC_Update(step, salt_.length ? salt_.data : &kEmpty, salt_.length) == 1 &&
           HMAC_Update(step, index, 4) == 1 && HMAC_Final(step, u, nullptr) == 1;
      std::memcpy(t, u, mdLength);
      for (uint32_t j = 1; ok && j < iterations_; j++) {
        if (j % kIterationsPerAbortCheck == 0 && abort.load(std::memory_order_relaxed)) {
          aborted_ = true;
          break;
        }
        ok = HMAC_CTX_copy(step, keyed) == 1 && HMAC_Update(step, u, mdLength) == 1 &&
             HMAC_Final(step, u, nullptr) == 1;
        for (size_t k = 0; k < mdLength; k++) t[k] ^= u[k];
      }
      size_t offset = (block - 1) * mdLength;
      std::memcpy(output_.data() + offset, t, std::min(mdLength, keylen_ - offset));
    }
    if (!ok) FailOpenSsl("pbkdf2");
    HMAC_CTX_free(step);
    HMAC_CTX_free(keyed);
    bytes_ = keylen_;
#pragma GCC diagnostic pop
  }

 private:
  const EVP_MD* md_;
  ByteView password_;
  ByteView salt_;
  uint32_t iterations_;
  size_t keylen_;
};

class ScryptKernel : public Kernel {
 public:
  ScryptKernel(ByteView password, ByteView salt, size_t keylen, uint64_t N, uint64_t r, uint64_t p,
               uint64_t maxmem)
      : Kernel(kKernelScrypt), password_(password), salt_(salt), keylen_(keylen), N_(N), r_(r),
        p_(p), maxmem_(maxmem) {}

  void Run(const std::atomic<bool>&) override {
    static const uint8_t kEmpty = 0;
    output_.resize(keylen_);
    if (keylen_ == 0) return;
    int ok = EVP_PBE_scrypt(reinterpret_cast<const char*>(password_.length ? password_.data : &kEmpty),
                            password_.length, salt_.length ? salt_.data : &kEmpty, salt_.length, N_,
                            r_, p_, maxmem_, output_.data(), keylen_);
    if (ok != 1) FailOpenSsl("scrypt");
    bytes_ = keylen_;
  }

 private:
  ByteView password_;
  ByteView salt_;
  size_t keylen_;
  uint64_t N_, r_, p_, maxmem_;
};

// HKDF written out over HMAC (extract, then expand), the way node:crypto's hkdf behaves: an
// empty key is allowed (OpenSSL's HKDF KDF refuses one), an empty salt means hashLen zeros.
class HkdfKernel : public Kernel {
 public:
  HkdfKernel(const EVP_MD* md, ByteView key, ByteView salt, ByteView info, size_t keylen)
      : Kernel(kKernelHkdf), md_(md), key_(key), salt_(salt), info_(info), keylen_(keylen) {}

  void Run(const std::atomic<bool>&) override {
    static const uint8_t kEmpty = 0;
    auto bytes = [](ByteView v) { return v.length ? v.data : &kEmpty; };
    output_.resize(keylen_);
    bytes_ = keylen_;
    if (keylen_ == 0) return;
    uint8_t prk[EVP_MAX_MD_SIZE];
    unsigned int prkLength = 0;
    if (HMAC(md_, bytes(salt_), static_cast<int>(salt_.length), bytes(key_), key_.length, prk, &prkLength) == nullptr) {
      return FailOpenSsl("hkdf");
    }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    HMAC_CTX* ctx = HMAC_CTX_new();
    uint8_t t[EVP_MAX_MD_SIZE];
    unsigned int tLength = 0;
    bool ok = ctx != nullptr;
    for (size_t offset = 0, block = 1; ok && offset < keylen_; block++) {
      uint8_t counter = static_cast<uint8_t>(block);
      ok = HMAC_Init_ex(ctx, prk, static_cast<int>(prkLength), md_, nullptr) == 1 &&
           HMAC_Update(ctx, t, tLength) == 1 && HMAC_Update(ctx, bytes(info_), info_.length) == 1 &&
           HMAC_Update(ctx, &counter, 1) == 1 && HMAC_Final(ctx, t, &tLength) == 1;
      size_t n = std::min<size_t>(tLength, keylen_ - offset);
      if (ok) std::memcpy(output_.data() + offset, t, n);
      offset += n;
    }
    HMAC_CTX_free(ctx);
#pragma GCC diagnostic pop
    OPENSSL_cleanse(prk, sizeof(prk));
    OPENSSL_cleanse(t, sizeof(t));
    if (!ok) FailOpenSsl("hkdf");
  }

 private:
  const EVP_MD* md_;
  ByteView key_, salt_, info_;
  size_t keylen_;
};

}  // namespace

std::unique_ptr<Kernel> MakeHkdfKernel(const EVP_MD* md, ByteView key, ByteView salt, ByteView info, size_t keylen) {
  return std::make_unique<HkdfKernel>(md, key, salt, info, keylen);
}

bool ScryptParamsValid(uint64_t N, uint64_t r, uint64_t p, uint64_t maxmem) {
  int ok = EVP_PBE_scrypt(nullptr, 0, nullptr, 0, N, r, p, maxmem, nullptr, 0);
  ERR_clear_error();
  return ok == 1;
}

std::unique_ptr<Kernel> MakePbkdf2Kernel(const EVP_MD* md, ByteView password, ByteView salt,
                                         uint32_t iterations, size_t keylen) {
  return std::make_unique<Pbkdf2Kernel>(md, password, salt, iterations, keylen);
}

std::unique_ptr<Kernel> MakeScryptKernel(ByteView password, ByteView salt, size_t keylen, uint64_t N,
                                         uint64_t r, uint64_t p, uint64_t maxmem) {
  return std::make_unique<ScryptKernel>(password, salt, keylen, N, r, p, maxmem);
}

}  // namespace uvscope
