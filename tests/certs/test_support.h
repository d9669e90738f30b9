// Helpers for the certs tests: an independent chain verifier (OpenSSL's X509_verify_cert), a
// temporary directory, and raw key generation for key types certs/ deliberately does not offer.
#pragma once

#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "certs/openssl_handles.h"

namespace revrouter::certs::testing {

struct VerifyRequest {
  std::string host;  // checked with X509_VERIFY_PARAM_set1_host when non-empty
  std::string ip;    // checked with X509_VERIFY_PARAM_set1_ip_asc when non-empty
  int purpose = X509_PURPOSE_SSL_SERVER;
};

// X509_V_OK if `leaf` chains to `ca` and matches the request, else the X509_V_ERR_* code.
inline int verify_chain(X509* ca, X509* leaf, const VerifyRequest& request) {
  X509StorePtr store(X509_STORE_new());
  if (!store || X509_STORE_add_cert(store.get(), ca) != 1) return -1;
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) != 1) return -1;
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  if (!request.host.empty() && X509_VERIFY_PARAM_set1_host(param, request.host.c_str(), 0) != 1) {
    return -1;
  }
  if (!request.ip.empty() && X509_VERIFY_PARAM_set1_ip_asc(param, request.ip.c_str()) != 1) {
    return -1;
  }
  if (X509_STORE_CTX_set_purpose(ctx.get(), request.purpose) != 1) return -1;
  if (X509_verify_cert(ctx.get()) == 1) return X509_V_OK;
  return X509_STORE_CTX_get_error(ctx.get());
}

inline std::string verify_error_string(int code) {
  return code < 0 ? "setup failed" : X509_verify_cert_error_string(code);
}

// A fresh directory under TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "revrouter-certs-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace revrouter::certs::testing
