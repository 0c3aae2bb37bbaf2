// Hashing kernels: one-shot hash, hashMany, HMAC, incremental hasher steps and hashFile.
// All run on a pool thread with Node's own OpenSSL (symbols resolved from the node binary).
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>

#include "kernel.h"

namespace uvscope {

Napi::Value Kernel::Result(Napi::Env env) {
  return Napi::Buffer<uint8_t>::Copy(env, output_.data(), output_.size());
}

void Kernel::FailOpenSsl(const char* what) {
  unsigned long code = ERR_get_error();
  char reason[256] = {0};
  if (code != 0) ERR_error_string_n(code, reason, sizeof(reason));
  ERR_clear_error();
  Fail("ERR_CRYPTO_OPERATION_FAILED",
       std::string(what) + " failed" + (code != 0 ? std::string(": ") + reason : ""));
}

namespace {

bool IsXof(const EVP_MD* md) { return (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF) != 0; }

// Feeds `data` to `ctx` in chunks, polling `abort` between them. Returns false on
// OpenSSL failure; sets `aborted` when stopped early.
bool UpdateChunked(EVP_MD_CTX* ctx, ByteView data, const std::atomic<bool>& abort, bool& aborted) {
  size_t offset = 0;
  do {
    if (AbortedAtChunk(abort, offset == 0)) {
      aborted = true;
      return true;
    }
    size_t n = std::min(kChunkBytes, data.length - offset);
    if (EVP_DigestUpdate(ctx, data.data + offset, n) != 1) return false;
    offset += n;
  } while (offset < data.length);
  return true;
}

bool Finish(EVP_MD_CTX* ctx, const EVP_MD* md, size_t outputLength, std::vector<uint8_t>& out) {
  if (IsXof(md)) {
    out.resize(outputLength);
    return outputLength == 0 || EVP_DigestFinalXOF(ctx, out.data(), outputLength) == 1;
  }
  unsigned int length = 0;
  out.resize(EVP_MAX_MD_SIZE);
  if (EVP_DigestFinal_ex(ctx, out.data(), &length) != 1) return false;
  out.resize(length);
  return true;
}

class HashKernel : public Kernel {
 public:
  HashKernel(const EVP_MD* md, ByteView data, size_t outputLength)
      : Kernel(kKernelHash), md_(md), data_(data), outputLength_(outputLength) {}

  void Run(const std::atomic<bool>& abort) override {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, md_, nullptr) == 1 &&
              UpdateChunked(ctx, data_, abort, aborted_) &&
              (aborted_ || Finish(ctx, md_, outputLength_, output_));
    if (!ok) FailOpenSsl("digest");
    bytes_ = data_.length;
    EVP_MD_CTX_free(ctx);
  }

 private:
  const EVP_MD* md_;
  ByteView data_;
  size_t outputLength_;
};

// One of the jobs of a hashMany() call: hashes inputs of the shared batch until none is left.
// Resolves with undefined; the call reads the digests from the batch once all its jobs settled.
class HashManyKernel : public Kernel {
 public:
  explicit HashManyKernel(std::shared_ptr<HashManyBatch> batch)
      : Kernel(kKernelHashMany), batch_(std::move(batch)) {}

  void Run(const std::atomic<bool>& abort) override {
    HashManyBatch& batch = *batch_;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) return FailOpenSsl("digest");
    for (size_t i; (i = batch.next.fetch_add(1, std::memory_order_relaxed)) < batch.inputs.size();) {
      const ByteView& input = batch.inputs[i];
      bool ok = EVP_DigestInit_ex(ctx, batch.md, nullptr) == 1 && UpdateChunked(ctx, input, abort, aborted_) &&
                (aborted_ || Finish(ctx, batch.md, batch.outputLength, batch.digests[i]));
      if (!ok) {
        FailOpenSsl("digest");
        break;
      }
      if (aborted_) break;
      bytes_ += input.length;
    }
    EVP_MD_CTX_free(ctx);
  }

  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<HashManyBatch> batch_;
};

class HmacKernel : public Kernel {
 public:
  HmacKernel(const EVP_MD* md, ByteView key, ByteView data)
      : Kernel(kKernelHmac), md_(md), key_(key), data_(data) {}

  void Run(const std::atomic<bool>& abort) override {
    // HMAC_CTX is deprecated in OpenSSL 3 but is what Node's own createHmac uses, and it
    // is exported by every Node binary we support.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    HMAC_CTX* ctx = HMAC_CTX_new();
    static const uint8_t kEmpty = 0;
    bool ok = ctx != nullptr &&
              HMAC_Init_ex(ctx, key_.length ? key_.data : &kEmpty, static_cast<int>(key_.length), md_,
                           nullptr) == 1;
    size_t offset = 0;
    while (ok && offset < data_.length) {
      if (AbortedAtChunk(abort, offset == 0)) {
        aborted_ = true;
        break;
      }
      size_t n = std::min(kChunkBytes, data_.length - offset);
      ok = HMAC_Update(ctx, data_.data + offset, n) == 1;
      offset += n;
    }
    unsigned int length = 0;
    output_.resize(EVP_MAX_MD_SIZE);
    if (ok && !aborted_) ok = HMAC_Final(ctx, output_.data(), &length) == 1;
    output_.resize(length);
    if (!ok) FailOpenSsl("hmac");
    bytes_ = data_.length;
    HMAC_CTX_free(ctx);
#pragma GCC diagnostic pop
  }

 private:
  const EVP_MD* md_;
  ByteView key_;
  ByteView data_;
};

class HasherUpdateKernel : public Kernel {
 public:
  HasherUpdateKernel(std::shared_ptr<HasherState> state, ByteView data)
      : Kernel(kKernelHasherUpdate), state_(std::move(state)), data_(data) {}

  void Run(const std::atomic<bool>&) override {
    // No early abort (a half-fed hasher would silently give a wrong digest later), but the
    // same chunks and yields as every other hashing kernel.
    const std::atomic<bool> never{false};
    bool stopped = false;
    if (!UpdateChunked(state_->ctx, data_, never, stopped)) return FailOpenSsl("digest");
    bytes_ = data_.length;
  }

  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<HasherState> state_;
  ByteView data_;
};

class HasherDigestKernel : public Kernel {
 public:
  explicit HasherDigestKernel(std::shared_ptr<HasherState> state)
      : Kernel(kKernelHasherDigest), state_(std::move(state)) {}

  void Run(const std::atomic<bool>&) override {
    if (!Finish(state_->ctx, EVP_MD_CTX_get0_md(state_->ctx), state_->outputLength, output_)) {
      FailOpenSsl("digest");
    }
  }

 private:
  std::shared_ptr<HasherState> state_;
};

class HashFileKernel : public Kernel {
 public:
  HashFileKernel(const EVP_MD* md, std::string path, size_t outputLength)
      : Kernel(kKernelHashFile), md_(md), path_(std::move(path)), outputLength_(outputLength) {}

  void Run(const std::atomic<bool>& abort) override {
    if (path_.find('\0') != std::string::npos) {  // TypeScript refuses these; never open a prefix
      errno = ENOENT;
      return FailErrno("open");
    }
    int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return FailErrno("open");
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::vector<uint8_t> buffer(kChunkBytes);
    bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, md_, nullptr) == 1;
    if (!ok) FailOpenSsl("digest");
    while (ok) {
      if (AbortedAtChunk(abort, bytes_ == 0)) {
        aborted_ = true;
        break;
      }
      ssize_t n = read(fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        FailErrno("read");
        ok = false;
        break;
      }
      if (n == 0) break;
      bytes_ += static_cast<uint64_t>(n);
      if (EVP_DigestUpdate(ctx, buffer.data(), static_cast<size_t>(n)) != 1) {
        FailOpenSsl("digest");
        ok = false;
      }
    }
    if (ok && !aborted_ && !Finish(ctx, md_, outputLength_, output_)) FailOpenSsl("digest");
    EVP_MD_CTX_free(ctx);
    close(fd);
  }

 private:
  // Same shape as Node's fs errors: "ENOENT: no such file or directory, open '/x'".
  void FailErrno(const char* syscall) {
    int uvError = uv_translate_sys_error(errno);
    error_ = std::make_unique<KernelError>();
    error_->code = uv_err_name(uvError);
    error_->message = error_->code + ": " + uv_strerror(uvError) + ", " + syscall + " '" + path_ + "'";
    error_->syscall = syscall;
    error_->path = path_;
    error_->errnum = uvError;
  }

  const EVP_MD* md_;
  std::string path_;
  size_t outputLength_;
};

}  // namespace

std::unique_ptr<Kernel> MakeHashKernel(const EVP_MD* md, ByteView data, size_t outputLength) {
  return std::make_unique<HashKernel>(md, data, outputLength);
}
std::unique_ptr<Kernel> MakeHashManyKernel(std::shared_ptr<HashManyBatch> batch) {
  return std::make_unique<HashManyKernel>(std::move(batch));
}
std::unique_ptr<Kernel> MakeHmacKernel(const EVP_MD* md, ByteView key, ByteView data) {
  return std::make_unique<HmacKernel>(md, key, data);
}
std::unique_ptr<Kernel> MakeHashFileKernel(const EVP_MD* md, std::string path, size_t outputLength) {
  return std::make_unique<HashFileKernel>(md, std::move(path), outputLength);
}
std::unique_ptr<Kernel> MakeHasherUpdateKernel(std::shared_ptr<HasherState> state, ByteView data) {
  return std::make_unique<HasherUpdateKernel>(std::move(state), data);
}
std::unique_ptr<Kernel> MakeHasherDigestKernel(std::shared_ptr<HasherState> state) {
  return std::make_unique<HasherDigestKernel>(std::move(state));
}

}  // namespace uvscope
