#include "certs/openssl_handles.h"

#include <openssl/err.h>

#include <climits>

namespace revrouter::certs {

std::string take_openssl_errors() {
  std::string out;
  char buf[256];
  while (unsigned long code = ERR_get_error()) {  // NOLINT(google-runtime-int): OpenSSL's type
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  if (out.empty()) out = "no OpenSSL error reported";
  return out;
}

void clear_openssl_errors() { ERR_clear_error(); }

BioPtr memory_bio_view(std::string_view data) {
  if (data.size() > static_cast<size_t>(INT_MAX)) return nullptr;
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string memory_bio_contents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);  // NOLINT(google-runtime-int): OpenSSL's type
  if (len <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace revrouter::certs
