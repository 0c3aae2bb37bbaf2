// Cipher kernels: one-shot encryption and decryption, and the steps (update, final) of a
// streaming cipher, on a pool thread with Node's own OpenSSL. The output is allocated on the
// pool thread (so its pages are faulted in there, not on the loop: allocating 1 MiB on the
// loop thread cost 100-600 us here) and handed to JavaScript as an external Buffer, freed when
// collected (copied instead where a runtime forbids external buffers). A failed or stopped
// decryption wipes its output on the pool thread: no unverified plaintext outlives the job.
// Keys, IVs, AAD and tags are the kernel's adopted input copy (wiped by Kernel::Run); the
// cipher contexts holding key schedules are wiped by EVP_CIPHER_CTX_free.
#include <openssl/err.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>

#include "kernel.h"

namespace uvscope {

namespace {

// GCM and ChaCha20-Poly1305 tags are at most 16 bytes (OpenSSL 3.0 has no EVP_MAX_AEAD_TAG_LENGTH).
constexpr size_t kMaxTagBytes = 16;

// Node's message for a failed authentication (decipher.final()).
constexpr const char* kAuthFailed = "Unsupported state or unable to authenticate data";

// The error node:crypto would throw for the current OpenSSL error: code ERR_OSSL_<REASON>
// ("bad decrypt" -> ERR_OSSL_BAD_DECRYPT), message OpenSSL's error string.
KernelError OpenSslError(const char* fallback) {
  KernelError error;
  unsigned long code = ERR_peek_last_error();
  if (code == 0) {
    error.code = "ERR_CRYPTO_OPERATION_FAILED";
    error.message = fallback;
  } else {
    char text[256] = {0};
    ERR_error_string_n(code, text, sizeof(text));
    error.message = text;
    const char* reason = ERR_reason_error_string(code);
    error.code = "ERR_OSSL_";
    for (const char* c = reason ? reason : "operation failed"; *c; c++) {
      error.code += *c == ' ' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
    }
  }
  ERR_clear_error();
  return error;
}

// Output bytes allocated (uninitialised) on the pool thread, handed over as a Buffer or wiped
// and freed: what a job keeps (a failed or stopped step's output, or the original when a
// runtime that forbids external buffers made JavaScript take a copy) never outlives it unwiped.
class OwnedBytes {
 public:
  OwnedBytes() = default;
  OwnedBytes(const OwnedBytes&) = delete;
  OwnedBytes& operator=(const OwnedBytes&) = delete;
  ~OwnedBytes() {
    if (!wiped_) Wipe();
    delete[] data_;
  }
  // May throw std::bad_alloc (Kernel::Run reports it).
  uint8_t* Allocate(size_t capacity) {
    data_ = new uint8_t[capacity > 0 ? capacity : 1];
    capacity_ = capacity;
    return data_;
  }
  // On the pool thread when a step fails or stops, so that the loop thread does not wipe later.
  void Wipe() {
    uvscope::Wipe(data_, capacity_);
    wiped_ = true;
  }
  // Loop thread: the first `length` bytes as a Buffer that owns them (the caller's from then on).
  Napi::Value Release(Napi::Env env, size_t length) {
    if (data_ == nullptr || length == 0) return Napi::Buffer<uint8_t>::New(env, 0);
    napi_value buffer = nullptr;
    napi_status status = napi_create_external_buffer(
        env, length, data_, [](napi_env, void* bytes, void*) { delete[] static_cast<uint8_t*>(bytes); }, nullptr,
        &buffer);
    if (status == napi_ok) {
      data_ = nullptr;
      capacity_ = 0;
      return Napi::Value(env, buffer);
    }
    // No external buffers here (napi_no_external_buffers_allowed) or no memory for one: a copy;
    // the original stays ours, wiped and freed with the kernel.
    return Napi::Buffer<uint8_t>::Copy(env, data_, length);
  }

 private:
  uint8_t* data_ = nullptr;
  size_t capacity_ = 0;
  bool wiped_ = false;
};

// Room for the output of `length` input bytes: EVP_CipherUpdate writes up to a block more
// than it is given, EVP_CipherFinal_ex up to a block.
size_t OutputCapacity(const CipherSetup& setup, size_t length) {
  return length + 2 * static_cast<size_t>(EVP_CIPHER_get_block_size(setup.cipher));
}

// Where a job writes: the caller's memory, or bytes of its own handed over as a Buffer.
class CipherOutput {
 public:
  explicit CipherOutput(OutputView given) : given_(given) {}
  bool given() const { return given_.data != nullptr; }
  // Memory for at most `most` bytes of output (`room` bytes when allocated here), or nullptr
  // when the caller's is smaller (TypeScript checks it first; this is the native guard).
  uint8_t* Prepare(size_t most, size_t room) {
    most_ = most;
    if (!given()) return owned_.Allocate(room);
    return given_.capacity >= most ? given_.data : nullptr;
  }
  // Zeroes what the job may have written.
  void Wipe() {
    if (given()) {
      uvscope::Wipe(given_.data, std::min(given_.capacity, most_));
    } else {
      owned_.Wipe();
    }
  }
  // Loop thread: the number of bytes written into the caller's memory, or a Buffer of the first `length`.
  Napi::Value Release(Napi::Env env, size_t length) {
    return given() ? Napi::Number::New(env, static_cast<double>(length)) : owned_.Release(env, length);
  }

 private:
  OutputView given_;
  size_t most_ = 0;
  OwnedBytes owned_;
};

// Runs EVP_CipherUpdate over `input` in chunks, polling `abort`; returns false on failure.
bool UpdateChunks(EVP_CIPHER_CTX* ctx, ByteView input, uint8_t* out, size_t& written,
                  const std::atomic<bool>& abort, bool& aborted) {
  size_t offset = 0;
  while (offset < input.length) {
    if (AbortedAtChunk(abort, offset == 0)) {
      aborted = true;
      return true;
    }
    size_t n = std::min(kChunkBytes, input.length - offset);
    int outl = 0;
    if (EVP_CipherUpdate(ctx, out + written, &outl, input.data + offset, static_cast<int>(n)) != 1) return false;
    written += static_cast<size_t>(outl);
    offset += n;
  }
  return true;
}

bool FeedAad(EVP_CIPHER_CTX* ctx, ByteView aad) {
  if (aad.length == 0) return true;
  int outl = 0;
  return EVP_CipherUpdate(ctx, nullptr, &outl, aad.data, static_cast<int>(aad.length)) == 1;
}

bool SetExpectedTag(EVP_CIPHER_CTX* ctx, const CipherSetup& setup, ByteView tag) {
  if (!setup.aead || setup.encrypt) return true;
  if (tag.length == 0) return false;  // TypeScript always hands one over
  return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag.length),
                             const_cast<uint8_t*>(tag.data)) == 1;
}

class CipherKernel : public Kernel {
 public:
  CipherKernel(const CipherSetup& setup, ByteView key, ByteView iv, ByteView aad, ByteView tag, ByteView input,
               OutputView output, Napi::Object tagTarget)
      : Kernel(setup.encrypt ? kKernelEncrypt : kKernelDecrypt), setup_(setup), key_(key), iv_(iv), aad_(aad),
        tag_(tag), input_(input), out_(output) {
    if (!tagTarget.IsEmpty()) tag_target_ = Napi::Persistent(tagTarget);
  }

  void Execute(const std::atomic<bool>& abort) override {
    bytes_ = input_.length;
    uint8_t* out = out_.Prepare(MaxCipherOutput(setup_, input_.length), OutputCapacity(setup_, input_.length));
    if (out == nullptr || setup_.tagLength > sizeof(tag_out_)) {
      return Fail("ERR_UVSCOPE_OUTPUT_TOO_SMALL", "the output buffer is too small");
    }
    CipherContext owned(EVP_CIPHER_CTX_new());
    EVP_CIPHER_CTX* ctx = owned.get();
    size_t written = 0;
    bool ok = ctx != nullptr && InitCipher(ctx, setup_, key_, iv_) && SetExpectedTag(ctx, setup_, tag_) &&
              FeedAad(ctx, aad_) && UpdateChunks(ctx, input_, out, written, abort, aborted_);
    if (!ok) {
      error_ = std::make_unique<KernelError>(OpenSslError(setup_.encrypt ? "encryption failed" : "decryption failed"));
    } else if (!aborted_) {
      int outl = 0;
      if (EVP_CipherFinal_ex(ctx, out + written, &outl) != 1) {
        if (setup_.aead) {
          ERR_clear_error();
          Fail("ERR_UVSCOPE_AUTH_FAILED", kAuthFailed);
        } else {
          error_ = std::make_unique<KernelError>(OpenSslError("decryption failed"));
        }
      } else {
        written += static_cast<size_t>(outl);
        if (setup_.aead && setup_.encrypt &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(setup_.tagLength), tag_out_) != 1) {
          error_ = std::make_unique<KernelError>(OpenSslError("could not get the authentication tag"));
        }
      }
    }
    written_ = written;
    // No unverified or partial plaintext outlives a failed or stopped decryption.
    if (!setup_.encrypt && (error_ || aborted_)) out_.Wipe();
  }

  // The output: a Buffer, or the number of bytes written into the caller's. An AEAD
  // encryption's tag is copied into the tag target here, on the loop thread: the target is a
  // slice of Node's shared Buffer pool, whose ArrayBuffer a pool thread must not write into.
  Napi::Value Result(Napi::Env env) override {
    if (!tag_target_.IsEmpty()) {
      Napi::Uint8Array target = tag_target_.Value().As<Napi::Uint8Array>();
      if (target.ByteLength() < setup_.tagLength) {
        // Only if the shared pool's ArrayBuffer was transferred away meanwhile (Node 20 allows it).
        Napi::Error error = Napi::Error::New(env, "the buffer for the authentication tag was detached");
        error.Set("code", Napi::String::New(env, "ERR_INVALID_STATE"));
        throw error;
      }
      std::memcpy(target.Data(), tag_out_, setup_.tagLength);
    }
    return out_.Release(env, written_);
  }

 private:
  CipherSetup setup_;
  ByteView key_, iv_, aad_, tag_, input_;
  CipherOutput out_;
  uint8_t tag_out_[kMaxTagBytes] = {0};
  Napi::ObjectReference tag_target_;  // created and released on the loop thread
  size_t written_ = 0;
};

class CipherUpdateKernel : public Kernel {
 public:
  CipherUpdateKernel(std::shared_ptr<CipherState> state, ByteView aad, ByteView input, OutputView output)
      : Kernel(kKernelCipherUpdate), state_(std::move(state)), aad_(aad), input_(input), out_(output) {}

  void Execute(const std::atomic<bool>& abort) override {
    CipherState& state = *state_;
    if (state.broken) return Fail("ERR_UVSCOPE_CIPHER_STATE", "an earlier step of this cipher failed or was aborted");
    uint8_t* out = out_.Prepare(MaxCipherUpdateOutput(state.setup, input_.length), OutputCapacity(state.setup, input_.length));
    if (out == nullptr) return Fail("ERR_UVSCOPE_OUTPUT_TOO_SMALL", "the output buffer is too small");
    if (!FeedAad(state.ctx, aad_) || !UpdateChunks(state.ctx, input_, out, written_, abort, aborted_)) {
      error_ = std::make_unique<KernelError>(OpenSslError("cipher update failed"));
    }
    bytes_ = input_.length;
    if (error_ || aborted_) {
      state.broken = true;  // half a chunk fed: the stream cannot go on
      if (!state.setup.encrypt) out_.Wipe();
    }
  }

  Napi::Value Result(Napi::Env env) override { return out_.Release(env, written_); }

 private:
  std::shared_ptr<CipherState> state_;
  ByteView aad_, input_;
  CipherOutput out_;
  size_t written_ = 0;
};

class CipherFinalKernel : public Kernel {
 public:
  CipherFinalKernel(std::shared_ptr<CipherState> state, ByteView aad, ByteView tag)
      : Kernel(kKernelCipherFinal), state_(std::move(state)), aad_(aad), tag_(tag) {}

  void Execute(const std::atomic<bool>&) override {
    CipherState& state = *state_;
    if (state.broken) return Fail("ERR_UVSCOPE_CIPHER_STATE", "an earlier step of this cipher failed or was aborted");
    state.broken = true;  // finished either way: no step may follow
    if (!FeedAad(state.ctx, aad_) || !SetExpectedTag(state.ctx, state.setup, tag_)) {
      error_ = std::make_unique<KernelError>(OpenSslError("cipher final failed"));
      return;
    }
    int outl = 0;
    output_.resize(static_cast<size_t>(EVP_MAX_BLOCK_LENGTH));
    if (EVP_CipherFinal_ex(state.ctx, output_.data(), &outl) != 1) {
      output_.clear();
      if (state.setup.aead) {
        ERR_clear_error();
        return Fail("ERR_UVSCOPE_AUTH_FAILED", kAuthFailed);
      }
      error_ = std::make_unique<KernelError>(OpenSslError("cipher final failed"));
      return;
    }
    output_.resize(static_cast<size_t>(outl));
    if (state.setup.aead && state.setup.encrypt) {
      tag_out_.resize(state.setup.tagLength);
      if (EVP_CIPHER_CTX_ctrl(state.ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(state.setup.tagLength),
                              tag_out_.data()) != 1) {
        error_ = std::make_unique<KernelError>(OpenSslError("could not get the authentication tag"));
      }
    }
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array result = Napi::Array::New(env, 2);
    result.Set(0u, Napi::Buffer<uint8_t>::Copy(env, output_.data(), output_.size()));
    if (!tag_out_.empty()) result.Set(1u, Napi::Buffer<uint8_t>::Copy(env, tag_out_.data(), tag_out_.size()));
    return result;
  }

 private:
  std::shared_ptr<CipherState> state_;
  ByteView aad_, tag_;
  std::vector<uint8_t> tag_out_;
};

}  // namespace

bool InitCipher(EVP_CIPHER_CTX* ctx, const CipherSetup& setup, ByteView key, ByteView iv) {
  int enc = setup.encrypt ? 1 : 0;
  if (EVP_CipherInit_ex(ctx, setup.cipher, nullptr, nullptr, nullptr, enc) != 1) return false;
  if (setup.aead && static_cast<int>(iv.length) != EVP_CIPHER_get_iv_length(setup.cipher) &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(iv.length), nullptr) != 1) {
    return false;
  }
  if (EVP_CipherInit_ex(ctx, nullptr, nullptr, key.length ? key.data : nullptr, iv.length ? iv.data : nullptr, enc) !=
      1) {
    return false;
  }
  if (!setup.padding) EVP_CIPHER_CTX_set_padding(ctx, 0);
  return true;
}

size_t MaxCipherOutput(const CipherSetup& setup, size_t length) {
  size_t block = static_cast<size_t>(EVP_CIPHER_get_block_size(setup.cipher));
  // Padding adds 1 to `block` bytes; everything else writes at most what it is given.
  return block > 1 && setup.encrypt && setup.padding ? (length / block + 1) * block : length;
}

size_t MaxCipherUpdateOutput(const CipherSetup& setup, size_t length) {
  size_t block = static_cast<size_t>(EVP_CIPHER_get_block_size(setup.cipher));
  // A block mode may also release the partial (encryption) or whole (decryption) block an
  // earlier step held back.
  return block > 1 ? length + block : length;
}

std::unique_ptr<Kernel> MakeCipherKernel(const CipherSetup& setup, ByteView key, ByteView iv, ByteView aad,
                                         ByteView tag, ByteView input, OutputView output, Napi::Object tagTarget) {
  return std::make_unique<CipherKernel>(setup, key, iv, aad, tag, input, output, tagTarget);
}

std::unique_ptr<Kernel> MakeCipherUpdateKernel(std::shared_ptr<CipherState> state, ByteView aad, ByteView input,
                                               OutputView output) {
  return std::make_unique<CipherUpdateKernel>(std::move(state), aad, input, output);
}

std::unique_ptr<Kernel> MakeCipherFinalKernel(std::shared_ptr<CipherState> state, ByteView aad, ByteView tag) {
  return std::make_unique<CipherFinalKernel>(std::move(state), aad, tag);
}

}  // namespace uvscope
