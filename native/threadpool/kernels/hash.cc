// Hashing kernels: one-shot hash, hashMany, HMAC, incremental hasher steps and hashFile.
// All run on a pool thread with Node's own OpenSSL (symbols resolved from the node binary).
// Also the parts of Kernel every kernel shares: Run() (exceptions become failures, the adopted
// input is wiped), error(), the default Result() and FailOpenSsl().
#include <fcntl.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>

#include "kernel.h"

namespace uvscope {

// --- Kernel: the parts every kernel shares (see kernel.h) -----------------------------------

namespace {

// What error() reports for a kernel that failed and could not even allocate its error: built
// when the addon is loaded, so that reporting it allocates nothing.
const KernelError kOutOfMemoryError{kOutOfMemoryCode, "Could not allocate memory for the job", "", "", 0};

}  // namespace

void Kernel::Run(const std::atomic<bool>& abort) noexcept {
  try {
    Execute(abort);
  } catch (const std::bad_alloc&) {
    FailCaught(kOutOfMemoryCode, "Could not allocate memory for the job");
  } catch (const std::length_error&) {  // a size over what a container can hold
    FailCaught(kOutOfMemoryCode, "Could not allocate memory for the job: the size is too large");
  } catch (const std::exception& error) {
    FailCaught("ERR_UVSCOPE_INTERNAL", error.what());
  } catch (...) {
    FailCaught("ERR_UVSCOPE_INTERNAL", "unexpected exception on the pool thread");
  }
  // The shared noop kernel runs on several threads at once: it adopted nothing, so this only reads.
  if (input_) WipeInput();
}

void Kernel::FailCaught(const char* code, const char* message) noexcept {
  try {
    Fail(code, message);
  } catch (...) {
    error_.reset();
    outOfMemory_ = true;
  }
}

const KernelError* Kernel::error() const { return error_ ? error_.get() : outOfMemory_ ? &kOutOfMemoryError : nullptr; }

Napi::Value Kernel::Result(Napi::Env env) {
  return Napi::Buffer<uint8_t>::Copy(env, output_.data(), output_.size());
}

void Kernel::FailOpenSsl(const char* what) {
  unsigned long code = ERR_get_error();
  char reason[256] = {0};
  if (code != 0) ERR_error_string_n(code, reason, sizeof(reason));
  ERR_clear_error();
  // OpenSSL could not allocate (Argon2's memory blocks, say): the same code as our own failures.
  bool memory = code != 0 && ERR_GET_REASON(code) == ERR_R_MALLOC_FAILURE;
  Fail(memory ? kOutOfMemoryCode : "ERR_CRYPTO_OPERATION_FAILED",
       std::string(what) + " failed" + (code != 0 ? std::string(": ") + reason : ""));
}

// --- hashing kernels --------------------------------------------------------------------------

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

// The digest into `out`. An XOF's output is as long as asked (up to 4 GiB, which TypeScript
// allows): resize() may throw std::bad_alloc, which Kernel::Run reports.
template <typename Bytes>  // WipedBytes, or std::vector<uint8_t> for hashMany's digests
bool Finish(EVP_MD_CTX* ctx, const EVP_MD* md, size_t outputLength, Bytes& out) {
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

// A file descriptor closed however the kernel returns (or throws).
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

class HashKernel : public Kernel {
 public:
  HashKernel(const EVP_MD* md, ByteView data, size_t outputLength)
      : Kernel(kKernelHash), md_(md), data_(data), outputLength_(outputLength) {}

  void Execute(const std::atomic<bool>& abort) override {
    MdContext ctx(EVP_MD_CTX_new());
    bool ok = ctx && EVP_DigestInit_ex(ctx.get(), md_, nullptr) == 1 &&
              UpdateChunked(ctx.get(), data_, abort, aborted_) &&
              (aborted_ || Finish(ctx.get(), md_, outputLength_, output_));
    if (!ok) FailOpenSsl("digest");
    bytes_ = data_.length;
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

  void Execute(const std::atomic<bool>& abort) override {
    HashManyBatch& batch = *batch_;
    MdContext ctx(EVP_MD_CTX_new());
    if (!ctx) return FailOpenSsl("digest");
    for (size_t i; (i = batch.next.fetch_add(1, std::memory_order_relaxed)) < batch.inputs.size();) {
      const ByteView& input = batch.inputs[i];
      bool ok = EVP_DigestInit_ex(ctx.get(), batch.md, nullptr) == 1 &&
                UpdateChunked(ctx.get(), input, abort, aborted_) &&
                (aborted_ || Finish(ctx.get(), batch.md, batch.outputLength, batch.digests[i]));
      if (!ok) {
        FailOpenSsl("digest");
        break;
      }
      if (aborted_) break;
      bytes_ += input.length;
    }
  }

  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<HashManyBatch> batch_;
};

class HmacKernel : public Kernel {
 public:
  HmacKernel(const EVP_MD* md, ByteView key, ByteView data)
      : Kernel(kKernelHmac), md_(md), key_(key), data_(data) {}

  void Execute(const std::atomic<bool>& abort) override {
    // HMAC_CTX is deprecated in OpenSSL 3 but is what Node's own createHmac uses, and it
    // is exported by every Node binary we support.
    HmacContext ctx(NewHmacContext());
    static const uint8_t kEmpty = 0;
    bool ok = ctx && HmacInit(ctx.get(), key_.length ? key_.data : &kEmpty, key_.length, md_);
    size_t offset = 0;
    while (ok && offset < data_.length) {
      if (AbortedAtChunk(abort, offset == 0)) {
        aborted_ = true;
        break;
      }
      size_t n = std::min(kChunkBytes, data_.length - offset);
      ok = HmacUpdate(ctx.get(), data_.data + offset, n);
      offset += n;
    }
    unsigned int length = 0;
    output_.resize(EVP_MAX_MD_SIZE);
    if (ok && !aborted_) ok = HmacFinal(ctx.get(), output_.data(), &length);
    output_.resize(length);
    if (!ok) FailOpenSsl("hmac");
    bytes_ = data_.length;
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

  void Execute(const std::atomic<bool>&) override {
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

  void Execute(const std::atomic<bool>&) override {
    if (!Finish(state_->ctx, EVP_MD_CTX_get0_md(state_->ctx), state_->outputLength, output_)) {
      FailOpenSsl("digest");
    }
  }

 private:
  std::shared_ptr<HasherState> state_;
};

// hashFile(): reads the file on the pool thread. Nothing here may wait for good: a FIFO with
// no writer would block open() and read() until one comes, and worker.terminate() and
// process.exit() wait for a running job. So the file is opened O_NONBLOCK; regular files,
// directories and block devices are then read as usual, while FIFOs, character devices and
// sockets are read only once poll() says they are readable, waiting in slices of at most
// kWaitSliceMs and checking `abort` between slices. A FIFO is hashed up to its end of file
// (its last writer closing); until a first writer comes, the job waits, as `cat` would.
class HashFileKernel : public Kernel {
 public:
  HashFileKernel(const EVP_MD* md, std::string path, size_t outputLength)
      : Kernel(kKernelHashFile), md_(md), path_(std::move(path)), outputLength_(outputLength) {}

  void Execute(const std::atomic<bool>& abort) override {
    if (path_.find('\0') != std::string::npos) {  // TypeScript refuses these; never open a prefix
      errno = ENOENT;
      return FailErrno("open");
    }
    FileDescriptor fd(open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) return FailErrno("open");
    struct stat info;
    if (fstat(fd.get(), &info) != 0) return FailErrno("fstat");
    const bool waits = S_ISFIFO(info.st_mode) || S_ISCHR(info.st_mode) || S_ISSOCK(info.st_mode);
    MdContext ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), md_, nullptr) != 1) return FailOpenSsl("digest");
    WipedBytes buffer(kChunkBytes);
    for (bool first = true;; first = false) {
      if (AbortedAtChunk(abort, first)) {
        aborted_ = true;
        return;
      }
      if (waits && !WaitReadable(fd.get(), abort)) return;  // aborted, or failed
      ssize_t n = read(fd.get(), buffer.data(), buffer.size());
      if (n < 0 && (errno == EINTR || (waits && (errno == EAGAIN || errno == EWOULDBLOCK)))) continue;
      if (n < 0) return FailErrno("read");
      if (n == 0) break;
      bytes_ += static_cast<uint64_t>(n);
      if (EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(n)) != 1) return FailOpenSsl("digest");
    }
    if (!Finish(ctx.get(), md_, outputLength_, output_)) FailOpenSsl("digest");
  }

 private:
  // The longest a job waits in poll() before it looks at `abort` again: how late an abort,
  // worker.terminate() or process.exit() can end a job that waits on a FIFO or device.
  static constexpr int kWaitSliceMs = 20;

  // Waits until `fd` has bytes, its end of file or an error to read; false when aborted
  // (aborted_ set) or poll() failed (error set).
  bool WaitReadable(int fd, const std::atomic<bool>& abort) {
    struct pollfd watched = {fd, POLLIN, 0};
    for (;;) {
      int ready = poll(&watched, 1, kWaitSliceMs);
      if (ready > 0) return true;  // POLLIN, POLLHUP (the last writer closed) or POLLERR: read says which
      if (ready < 0 && errno != EINTR) {
        FailErrno("poll");
        return false;
      }
      if (abort.load(std::memory_order_relaxed)) {
        aborted_ = true;
        return false;
      }
    }
  }

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
