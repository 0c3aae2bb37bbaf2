// The contract between the job queue and the code that runs on a libuv pool thread. A
// Kernel is plain C++: Run() executes on a pool thread and may touch only its own members
// and memory the job keeps alive (input buffers are held by a JS reference until the job
// settles). Result() runs back on the loop thread and turns the output into a JS value.
// Run() never throws, and every byte of possibly secret material a kernel owns (the input
// copy it adopted, its output, its working buffers) is wiped before it is freed.
// Lifetime: owned by its Job; created on the loop thread, destroyed there after settling.
#pragma once
#include <napi.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace uvscope {

// Kernel ids, shared with src/native.ts (per-kernel statistics are indexed by them).
enum KernelId : int {
  kKernelNoop = 0,
  kKernelHash,
  kKernelHashMany,
  kKernelHmac,
  kKernelHashFile,
  kKernelHasherUpdate,
  kKernelHasherDigest,
  kKernelPbkdf2,
  kKernelScrypt,
  kKernelSpin,
  kKernelSleep,
  kKernelProbe,
  kKernelEncrypt,
  kKernelDecrypt,
  kKernelCipherUpdate,
  kKernelCipherFinal,
  kKernelHkdf,
  kKernelArgon2,
  kKernelCount,
};

// The name of each kernel id, as src/native.ts's KERNEL_NAMES spells it (checked at load).
constexpr const char* kKernelNames[] = {
    "noop",
    "hash",
    "hashMany",
    "hmac",
    "hashFile",
    "hasherUpdate",
    "hasherDigest",
    "pbkdf2",
    "scrypt",
    "spin",
    "sleep",
    "probe",
    "encrypt",
    "decrypt",
    "cipherUpdate",
    "cipherFinal",
    "hkdf",
    "argon2",
};
static_assert(sizeof(kKernelNames) / sizeof(kKernelNames[0]) == kKernelCount, "a name per kernel id");

// A failure a kernel reports; becomes a rejected promise with an Error carrying `code`
// (and `syscall`, `path`, `errno` for file system errors, like Node's fs errors).
struct KernelError {
  std::string code;
  std::string message;
  std::string syscall;
  std::string path;
  int errnum = 0;  // negative libuv error code, as Node's fs errors carry
};

// A read-only view of input bytes owned by a JS ArrayBuffer the job keeps referenced.
struct ByteView {
  const uint8_t* data = nullptr;
  size_t length = 0;
};

// Overwrites `length` bytes at `data` with zeros in a way the compiler may not drop as a dead
// store (OPENSSL_cleanse, resolved from the node binary like every OpenSSL symbol).
inline void Wipe(void* data, size_t length) {
  if (data != nullptr && length != 0) OPENSSL_cleanse(data, length);
}

// An allocator whose memory is wiped before it is freed: a std::vector using it leaves nothing
// behind when it grows (the old block), shrinks and grows again, or is destroyed.
template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) noexcept {
    Wipe(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const noexcept { return true; }
  template <typename U>
  bool operator!=(const WipingAllocator<U>&) const noexcept { return false; }
};
// Bytes a kernel holds that may be secret (derived keys, digests, plaintext, file contents).
using WipedBytes = std::vector<uint8_t, WipingAllocator<uint8_t>>;

// The error code of a job that could not allocate memory (ours or OpenSSL's) on its pool thread.
constexpr const char* kOutOfMemoryCode = "ERR_UVSCOPE_OUT_OF_MEMORY";

class Kernel {
 public:
  explicit Kernel(KernelId id) : id_(id) {}
  virtual ~Kernel() { WipeInput(); }

  // Pool thread: runs Execute(), then wipes the input copy the kernel adopted (nothing reads
  // it later). Never throws: an allocation that fails (std::bad_alloc, a length over a
  // container's maximum) becomes the job's failure with code kOutOfMemoryCode, any other C++
  // exception a failure with code ERR_UVSCOPE_INTERNAL; no exception reaches libuv's thread.
  void Run(const std::atomic<bool>& abort) noexcept;
  // Loop thread: the value the promise resolves with. Default: the output as a Buffer.
  virtual Napi::Value Result(Napi::Env env);

  // Takes ownership of the memory this kernel's input ByteViews point into when the input was
  // copied at submission (native/threadpool/arguments.h CopyInto: keys, IVs, passwords, secrets and
  // data copied rather than read in place): `length` bytes, wiped once Run() is done with
  // them, or when the kernel is destroyed if the job never ran.
  void AdoptInput(std::unique_ptr<uint8_t[]> bytes, size_t length) {
    WipeInput();
    input_ = std::move(bytes);
    inputLength_ = input_ ? length : 0;
  }

  KernelId id() const { return id_; }
  bool aborted() const { return aborted_; }
  const KernelError* error() const;
  uint64_t bytes() const { return bytes_; }

 protected:
  // Pool thread. Long kernels poll `abort` between chunks and return early with
  // aborted_ = true; the job then rejects with an AbortError. May throw std::bad_alloc.
  virtual void Execute(const std::atomic<bool>& abort) = 0;

  void Fail(std::string code, std::string message) {
    error_ = std::make_unique<KernelError>();
    error_->code = std::move(code);
    error_->message = std::move(message);
  }
  // Records the current OpenSSL error queue as the failure.
  void FailOpenSsl(const char* what);

  KernelId id_;
  bool aborted_ = false;
  uint64_t bytes_ = 0;
  WipedBytes output_;
  std::unique_ptr<KernelError> error_;

 private:
  void WipeInput() noexcept {
    Wipe(input_.get(), inputLength_);
    inputLength_ = 0;
  }
  // Records a failure without allocating, if recording it the usual way throws.
  void FailCaught(const char* code, const char* message) noexcept;

  std::unique_ptr<uint8_t[]> input_;
  size_t inputLength_ = 0;
  bool outOfMemory_ = false;  // failed, and not even the error could be allocated
};

// Owning handles for OpenSSL contexts, freed however a kernel returns (or throws).
struct MdContextFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdContext = std::unique_ptr<EVP_MD_CTX, MdContextFree>;
struct CipherContextFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextFree>;
struct KdfContextFree {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};
using KdfContext = std::unique_ptr<EVP_KDF_CTX, KdfContextFree>;
// HMAC_CTX is deprecated in OpenSSL 3 but is what Node's own createHmac uses, and it is
// exported by every Node binary we support. HMAC_CTX_free wipes the keyed state.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct HmacContextFree {
  void operator()(HMAC_CTX* ctx) const { HMAC_CTX_free(ctx); }
};
using HmacContext = std::unique_ptr<HMAC_CTX, HmacContextFree>;
inline HMAC_CTX* NewHmacContext() { return HMAC_CTX_new(); }
inline bool HmacInit(HMAC_CTX* ctx, const uint8_t* key, size_t length, const EVP_MD* md) {
  return HMAC_Init_ex(ctx, key, static_cast<int>(length), md, nullptr) == 1;
}
inline bool HmacUpdate(HMAC_CTX* ctx, const uint8_t* data, size_t length) {
  return HMAC_Update(ctx, data, length) == 1;
}
inline bool HmacFinal(HMAC_CTX* ctx, uint8_t* out, unsigned int* length) { return HMAC_Final(ctx, out, length) == 1; }
inline bool HmacCopy(HMAC_CTX* to, HMAC_CTX* from) { return HMAC_CTX_copy(to, from) == 1; }
#pragma GCC diagnostic pop

// Bytes a long kernel (hash, HMAC, cipher) processes between two chunk boundaries.
constexpr size_t kChunkBytes = 128 * 1024;

// At the start of each chunk: whether the job was aborted. Between two chunks (not before
// the first) the pool thread also yields its CPU. With a pool as large as the machine has
// CPUs, a woken loop thread otherwise waits on the run queue until a pool thread's time slice
// ends: measured here with 2 pool threads on 2 CPUs encrypting 256 x 1 MiB, the loop thread
// spent 10-20 ms of each 50 ms run waiting for a CPU and a 1 ms timer's delay p99 was 4-9 ms;
// with the yield, 5-8 ms and 1.3-1.5 ms. When nothing else waits, a yield is one system call
// (well under a microsecond) per 128 KiB, about 30 us of AES-GCM or SHA-256.
inline bool AbortedAtChunk(const std::atomic<bool>& abort, bool first) {
  if (!first) std::this_thread::yield();
  return abort.load(std::memory_order_relaxed);
}

// Kernel factories (defined in native/threadpool/kernels/*.cc). `md` comes from DigestCache and stays
// valid for the environment's lifetime.
std::unique_ptr<Kernel> MakeNoopKernel(KernelId id);
std::unique_ptr<Kernel> MakeSpinKernel(double ms);
std::unique_ptr<Kernel> MakeSleepKernel(double ms);
std::unique_ptr<Kernel> MakeHashKernel(const EVP_MD* md, ByteView data, size_t outputLength);
// hashMany(): what the jobs of one call share. Each job takes the next input no job has taken
// yet (`next`), so the jobs of a call end together however fast their threads run, and hashes
// it into its own slot of `digests`. The loop thread reads `digests` only once every job of the
// call has settled (libuv orders each job's work before its after_work). Lifetime: held by the
// call's JS object (HashManyBatchWrap) and by each of its jobs' kernels, freed on the loop.
struct HashManyBatch {
  const EVP_MD* md = nullptr;
  size_t outputLength = 0;
  std::vector<ByteView> inputs;
  std::unique_ptr<uint8_t[]> copy;  // the inputs copied at the call (zeroCopy), if any
  size_t copyLength = 0;             // bytes at `copy`: wiped when the batch is freed
  std::vector<std::vector<uint8_t>> digests;  // digests are not secret: not wiped
  std::atomic<size_t> next{0};
  ~HashManyBatch() { Wipe(copy.get(), copyLength); }
};
std::unique_ptr<Kernel> MakeHashManyKernel(std::shared_ptr<HashManyBatch> batch);
std::unique_ptr<Kernel> MakeHmacKernel(const EVP_MD* md, ByteView key, ByteView data);
std::unique_ptr<Kernel> MakeHashFileKernel(const EVP_MD* md, std::string path, size_t outputLength);
std::unique_ptr<Kernel> MakePbkdf2Kernel(const EVP_MD* md, ByteView password, ByteView salt,
                                         uint32_t iterations, size_t keylen);
std::unique_ptr<Kernel> MakeScryptKernel(ByteView password, ByteView salt, size_t keylen,
                                         uint64_t N, uint64_t r, uint64_t p, uint64_t maxmem);
// Checks scrypt parameters exactly as OpenSSL will, without deriving anything.
bool ScryptParamsValid(uint64_t N, uint64_t r, uint64_t p, uint64_t maxmem);

// measureSize() and pool-thread discovery: hold jobs block on this until Release(), until
// `target` of them have arrived (0: no target) or each has held its thread `maxHoldMs` (0: no
// limit); Arrived() counts how many ran at once.
struct HoldBarrier {
  std::mutex mutex;
  std::condition_variable wake;
  uint32_t arrived = 0;
  uint32_t target = 0;
  double maxHoldMs = 0;
  bool released = false;
  void Release();
  uint32_t Arrived();
};
std::unique_ptr<Kernel> MakeHoldKernel(std::shared_ptr<HoldBarrier> barrier);

// Incremental hashing: the state lives across jobs; each update or digest is one job.
struct HasherState {
  EVP_MD_CTX* ctx = nullptr;
  size_t outputLength = 0;
  bool finalized = false;
  ~HasherState() { EVP_MD_CTX_free(ctx); }
};
std::unique_ptr<Kernel> MakeHasherUpdateKernel(std::shared_ptr<HasherState> state, ByteView data);
std::unique_ptr<Kernel> MakeHasherDigestKernel(std::shared_ptr<HasherState> state);

// Ciphers (kernels/cipher.cc).
struct CipherSetup {
  const EVP_CIPHER* cipher = nullptr;
  bool encrypt = true;
  bool aead = false;         // GCM or ChaCha20-Poly1305: an authentication tag
  bool padding = true;       // block modes: PKCS#7 padding (node:crypto's autoPadding)
  size_t tagLength = 16;
};
// Sets up `ctx` with key and iv, as createCipheriv does (IV length for AEAD modes first).
bool InitCipher(EVP_CIPHER_CTX* ctx, const CipherSetup& setup, ByteView key, ByteView iv);
// Bytes a kernel writes into memory of the caller's (a JS ArrayBuffer the job keeps referenced).
struct OutputView {
  uint8_t* data = nullptr;  // nullptr: none given
  size_t capacity = 0;
};
// The most bytes encrypting or decrypting `length` bytes in one go can produce.
size_t MaxCipherOutput(const CipherSetup& setup, size_t length);
// One-shot encrypt/decrypt of `input`: resolves with the output, a Buffer allocated on the
// pool thread or, when `output` is given, the number of bytes written into it (it must hold
// MaxCipherOutput bytes). An AEAD encryption copies its tag into `tagTarget` (a Uint8Array of
// tagLength bytes) as it settles. `tag` is the tag to check (AEAD decryption). Stops at the
// next 128 KiB chunk when aborted.
std::unique_ptr<Kernel> MakeCipherKernel(const CipherSetup& setup, ByteView key, ByteView iv, ByteView aad,
                                         ByteView tag, ByteView input, OutputView output, Napi::Object tagTarget);
// Streaming: the context lives across jobs; each update or final is one job, in order.
struct CipherState {
  EVP_CIPHER_CTX* ctx = nullptr;
  CipherSetup setup;
  bool broken = false;  // a step failed or was stopped midway: every later step fails
  ~CipherState() { EVP_CIPHER_CTX_free(ctx); }
};
// The most bytes one streaming step of `length` bytes can produce.
size_t MaxCipherUpdateOutput(const CipherSetup& setup, size_t length);
// Feeds `aad` (first step only) and `input`; resolves with this step's output, a Buffer or,
// when `output` is given, the number of bytes written into it.
std::unique_ptr<Kernel> MakeCipherUpdateKernel(std::shared_ptr<CipherState> state, ByteView aad, ByteView input,
                                               OutputView output);
// Finishes: resolves with [the last bytes, the tag (AEAD encryption) or undefined].
std::unique_ptr<Kernel> MakeCipherFinalKernel(std::shared_ptr<CipherState> state, ByteView aad, ByteView tag);

// HKDF (RFC 5869) over HMAC, as crypto.hkdf: an empty key is allowed.
std::unique_ptr<Kernel> MakeHkdfKernel(const EVP_MD* md, ByteView key, ByteView salt, ByteView info, size_t keylen);
// Argon2 through OpenSSL's EVP_KDF (3.2+), `kdf` fetched by name at run time.
struct Argon2Params {
  EVP_KDF* kdf = nullptr;
  ByteView message, nonce, secret, associatedData;
  uint32_t parallelism = 1, tagLength = 32, memory = 8, passes = 1;
};
std::unique_ptr<Kernel> MakeArgon2Kernel(const Argon2Params& params);

}  // namespace uvscope
