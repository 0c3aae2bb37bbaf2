// CipherCache: resolves cipher names ("aes-256-gcm", "id-aes256-GCM", "chacha20-poly1305", ...)
// to OpenSSL EVP_CIPHER objects the way Node's createCipheriv does (legacy name lookup, then
// a provider fetch), and KDF names ("ARGON2ID", ...) to EVP_KDF objects, fetched by name at
// run time so that a binary built against OpenSSL 3.0's headers finds the KDFs of the newer
// OpenSSL a later Node carries. Fetched once per environment and kept until the environment
// is torn down, after every job that could use them has settled. Loop thread only.
#pragma once
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <string>
#include <unordered_map>

namespace uvscope {

class CipherCache {
 public:
  CipherCache() = default;
  CipherCache(const CipherCache&) = delete;
  CipherCache& operator=(const CipherCache&) = delete;
  ~CipherCache();

  // nullptr when OpenSSL knows no such cipher.
  const EVP_CIPHER* Cipher(const std::string& name);
  // nullptr when the running OpenSSL has no such KDF (ARGON2* before OpenSSL 3.2).
  EVP_KDF* Kdf(const std::string& name);

 private:
  std::unordered_map<std::string, EVP_CIPHER*> ciphers_;
  std::unordered_map<std::string, EVP_KDF*> kdfs_;
};

}  // namespace uvscope
