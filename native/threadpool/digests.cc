// DigestCache: see digests.h.
#include "digests.h"

#include <openssl/err.h>

namespace uvscope {

DigestCache::~DigestCache() {
  for (auto& entry : fetched_) EVP_MD_free(entry.second);
}

const EVP_MD* DigestCache::Get(const std::string& name) {
  auto found = fetched_.find(name);
  if (found != fetched_.end()) return found->second;
  // Aliases such as "RSA-SHA256" are known to the legacy table; fetching the canonical
  // name gives an explicitly fetched EVP_MD, which spares OpenSSL a lookup per init.
  const EVP_MD* legacy = EVP_get_digestbyname(name.c_str());
  EVP_MD* md = EVP_MD_fetch(nullptr, legacy ? EVP_MD_get0_name(legacy) : name.c_str(), nullptr);
  ERR_clear_error();
  if (md == nullptr) return nullptr;
  fetched_.emplace(name, md);
  return md;
}

}  // namespace uvscope
