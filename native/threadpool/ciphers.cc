// CipherCache: see ciphers.h.
#include "ciphers.h"

#include <openssl/err.h>

namespace uvscope {

CipherCache::~CipherCache() {
  for (auto& entry : ciphers_) EVP_CIPHER_free(entry.second);
  for (auto& entry : kdfs_) EVP_KDF_free(entry.second);
}

const EVP_CIPHER* CipherCache::Cipher(const std::string& name) {
  auto found = ciphers_.find(name);
  if (found != ciphers_.end()) return found->second;
  const EVP_CIPHER* legacy = EVP_get_cipherbyname(name.c_str());
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, legacy ? EVP_CIPHER_get0_name(legacy) : name.c_str(), nullptr);
  ERR_clear_error();
  if (cipher == nullptr) return nullptr;
  ciphers_.emplace(name, cipher);
  return cipher;
}

EVP_KDF* CipherCache::Kdf(const std::string& name) {
  auto found = kdfs_.find(name);
  if (found != kdfs_.end()) return found->second;
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, name.c_str(), nullptr);
  ERR_clear_error();
  // A miss is remembered too: fetching again would fail again.
  kdfs_.emplace(name, kdf);
  return kdf;
}

}  // namespace uvscope
