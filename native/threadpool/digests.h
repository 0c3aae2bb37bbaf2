// DigestCache: resolves digest names ("sha256", "RSA-SHA256", "sha3-256", ...) to OpenSSL
// EVP_MD objects once per environment, the way Node's createHash does (legacy name lookup,
// then a provider fetch), and keeps the fetched objects until the environment is torn down,
// after every job that could use them has settled. Loop thread only.
#pragma once
#include <openssl/evp.h>

#include <string>
#include <unordered_map>

namespace uvscope {

class DigestCache {
 public:
  DigestCache() = default;
  DigestCache(const DigestCache&) = delete;
  DigestCache& operator=(const DigestCache&) = delete;
  ~DigestCache();

  // nullptr when OpenSSL knows no such digest.
  const EVP_MD* Get(const std::string& name);

 private:
  std::unordered_map<std::string, EVP_MD*> fetched_;
};

}  // namespace uvscope
