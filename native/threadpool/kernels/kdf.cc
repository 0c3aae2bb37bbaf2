// Key derivation kernels: PBKDF2 (RFC 8018), scrypt (RFC 7914) and HKDF (RFC 5869) on a
// pool thread (Argon2 is in argon2.cc).
// PBKDF2 is written out over HMAC, the way OpenSSL's own implementation is, so that a
// running derivation can stop at an abort between chunks of iterations, and yields its CPU
// there as hashing does between chunks (AbortedAtChunk); scrypt runs in
// one EVP_PBE_scrypt call (it cannot be interrupted: abort only cancels it while queued).
// Derived key material (outputs, PBKDF2's U and T blocks, HKDF's PRK) is wiped before freed.
#include <openssl/err.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>

#include "kernel.h"

namespace uvscope {

namespace {

// Iterations between two chunk boundaries (an abort check and a yield): ~100 us of HMAC-SHA256
// here (~0.4 us an iteration), so that a woken fs or loop thread waits at most that long for
// a CPU every PBKDF2 job holds. With 4,096 (~1.7 ms) a job of a few ms never yielded.
constexpr uint32_t kIterationsPerAbortCheck = 256;

class Pbkdf2Kernel : public Kernel {
 public:
  Pbkdf2Kernel(const EVP_MD* md, ByteView password, ByteView salt, uint32_t iterations, size_t keylen)
      : Kernel(kKernelPbkdf2), md_(md), password_(password), salt_(salt),
        iterations_(iterations), keylen_(keylen) {}

  void Execute(const std::atomic<bool>& abort) override {
    static const uint8_t kEmpty = 0;
    output_.resize(keylen_);
    bytes_ = keylen_;
    HmacContext keyed(NewHmacContext());  // HMAC state with the password absorbed, copied per step
    HmacContext step(NewHmacContext());
    int size = EVP_MD_get_size(md_);
    size_t mdLength = size > 0 ? static_cast<size_t>(size) : 0;
    bool ok = mdLength > 0 && keyed && step &&
              HmacInit(keyed.get(), password_.length ? password_.data : &kEmpty, password_.length, md_);
    // U_j and T_i of RFC 8018: derived key material, wiped below however the loop ends.
    uint8_t u[EVP_MAX_MD_SIZE];
    uint8_t t[EVP_MAX_MD_SIZE];
    for (uint32_t block = 1; ok && (block - 1) * mdLength < keylen_; block++) {
      if (abort.load(std::memory_order_relaxed)) {
        aborted_ = true;
        break;
      }
      uint8_t index[4] = {static_cast<uint8_t>(block >> 24), static_cast<uint8_t>(block >> 16),
                          static_cast<uint8_t>(block >> 8), static_cast<uint8_t>(block)};
      ok = HmacCopy(step.get(), keyed.get()) && HmacUpdate(step.get(), salt_.length ? salt_.data : &kEmpty, salt_.length) &&
           HmacUpdate(step.get(), index, 4) && HmacFinal(step.get(), u, nullptr);
      std::memcpy(t, u, mdLength);
      for (uint32_t j = 1; ok && j < iterations_; j++) {
        if (j % kIterationsPerAbortCheck == 0 && AbortedAtChunk(abort, false)) {
          aborted_ = true;
          break;
        }
        ok = HmacCopy(step.get(), keyed.get()) && HmacUpdate(step.get(), u, mdLength) &&
             HmacFinal(step.get(), u, nullptr);
        for (size_t k = 0; k < mdLength; k++) t[k] ^= u[k];
      }
      size_t offset = (block - 1) * mdLength;
      std::memcpy(output_.data() + offset, t, std::min(mdLength, keylen_ - offset));
    }
    Wipe(u, sizeof(u));
    Wipe(t, sizeof(t));
    if (!ok) FailOpenSsl("pbkdf2");
  }

 private:
  const EVP_MD* md_;
  ByteView password_;
  ByteView salt_;
  uint32_t iterations_;
  size_t keylen_;
};

// EVP_PBE_scrypt wipes its own working memory (OPENSSL_clear_free); the output is ours.
class ScryptKernel : public Kernel {
 public:
  ScryptKernel(ByteView password, ByteView salt, size_t keylen, uint64_t N, uint64_t r, uint64_t p,
               uint64_t maxmem)
      : Kernel(kKernelScrypt), password_(password), salt_(salt), keylen_(keylen), N_(N), r_(r),
        p_(p), maxmem_(maxmem) {}

  void Execute(const std::atomic<bool>&) override {
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

  void Execute(const std::atomic<bool>&) override {
    static const uint8_t kEmpty = 0;
    auto bytes = [](ByteView v) { return v.length ? v.data : &kEmpty; };
    output_.resize(keylen_);
    bytes_ = keylen_;
    if (keylen_ == 0) return;
    // The pseudorandom key and each T(i): derived key material, wiped below.
    uint8_t prk[EVP_MAX_MD_SIZE];
    unsigned int prkLength = 0;
    if (HMAC(md_, bytes(salt_), static_cast<int>(salt_.length), bytes(key_), key_.length, prk, &prkLength) == nullptr) {
      Wipe(prk, sizeof(prk));
      return FailOpenSsl("hkdf");
    }
    HmacContext ctx(NewHmacContext());
    uint8_t t[EVP_MAX_MD_SIZE];
    unsigned int tLength = 0;
    bool ok = static_cast<bool>(ctx);
    for (size_t offset = 0, block = 1; ok && offset < keylen_; block++) {
      uint8_t counter = static_cast<uint8_t>(block);
      ok = HmacInit(ctx.get(), prk, prkLength, md_) && HmacUpdate(ctx.get(), t, tLength) &&
           HmacUpdate(ctx.get(), bytes(info_), info_.length) && HmacUpdate(ctx.get(), &counter, 1) &&
           HmacFinal(ctx.get(), t, &tLength);
      size_t n = std::min<size_t>(tLength, keylen_ - offset);
      if (ok) std::memcpy(output_.data() + offset, t, n);
      offset += n;
    }
    Wipe(prk, sizeof(prk));
    Wipe(t, sizeof(t));
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
