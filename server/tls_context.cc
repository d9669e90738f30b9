#include "server/tls_context.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <boost/asio/buffer.hpp>
#include <fstream>
#include <iterator>

namespace revrouter::server {
namespace ssl = boost::asio::ssl;

namespace {

// Mozilla's "intermediate" TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";

Error tls_error(std::string message) { return make_error("tls", std::move(message)); }

std::string openssl_reason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  std::array<char, 256> buf{};
  ERR_error_string_n(e, buf.data(), buf.size());
  return buf.data();
}

Result<std::string> read_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);  // start-up and reload only, never a request
  if (!in) return tls_error("cannot read " + std::string(what) + " file " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.empty()) return tls_error(std::string(what) + " file " + path + " is empty");
  return text;
}

// ALPN: only http/1.1. A client offering nothing we speak gets no ALPN answer (and falls back to
// its default) rather than a failed handshake.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, kHttp11, sizeof kHttp11, in, in_len) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

Result<std::string> check_key_type(const EVP_PKEY* key, const std::string& key_file) {
  const int bits = EVP_PKEY_get_bits(key);
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      if (bits < 2048) {
        return tls_error("key " + key_file + " is RSA-" + std::to_string(bits) +
                         ": RSA keys must have at least 2048 bits");
      }
      return "rsa-" + std::to_string(bits);
    case EVP_PKEY_EC: {
      std::array<char, 64> group{};
      std::size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(),
                                         group.size(), &len) != 1) {
        return tls_error("key " + key_file + " is an EC key of unknown curve");
      }
      const std::string_view name(group.data(), len);
      if (name == "prime256v1" || name == "P-256") return std::string("ecdsa-p256");
      if (name == "secp384r1" || name == "P-384") return std::string("ecdsa-p384");
      return tls_error("key " + key_file + " is on curve " + std::string(name) +
                       ": use ECDSA P-256 (or P-384) or RSA");
    }
    default:
      return tls_error("key " + key_file + " has unsupported type " +
                       std::string(OBJ_nid2sn(EVP_PKEY_get_base_id(key))) +
                       ": use ECDSA P-256 (or P-384) or RSA");
  }
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

TlsInfo describe(const X509* cert) {
  TlsInfo info;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  info.subject = bio_text(bio.get());
  BIO_reset(bio.get());
  ASN1_TIME_print(bio.get(), X509_get0_notAfter(cert));
  info.not_after = bio_text(bio.get());
  return info;
}

}  // namespace

Result<LoadedTls> make_server_tls_context(const TlsFiles& files) {
  ERR_clear_error();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(native, kTls13Suites) != 1 ||
      SSL_CTX_set1_groups_list(native, kGroups) != 1) {
    return tls_error("cannot configure cipher suites: " + openssl_reason());
  }
  SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);
  // Session resumption with client verification needs a session id context.
  static constexpr unsigned char kSessionContext[] = "revrouter";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);

  auto cert_pem = read_file(files.cert_file, "certificate");
  if (!cert_pem) return cert_pem.error();
  auto key_pem = read_file(files.key_file, "key");
  if (!key_pem) return key_pem.error();
  boost::system::error_code ec;
  ctx->use_certificate_chain(boost::asio::buffer(*cert_pem), ec);
  if (ec) {
    return tls_error("certificate file " + files.cert_file +
                     " has no usable PEM certificate chain: " + ec.message());
  }
  // The key is parsed on its own first, so a key that does not match is reported as such rather
  // than as an unusable key.
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(
      BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!key) {
    return tls_error("key file " + files.key_file +
                     " has no usable PEM private key: " + openssl_reason());
  }
  auto key_type = check_key_type(key.get(), files.key_file);
  if (!key_type) return key_type.error();
  if (X509_check_private_key(SSL_CTX_get0_certificate(native), key.get()) != 1) {
    ERR_clear_error();
    return tls_error("key " + files.key_file + " does not match certificate " + files.cert_file);
  }
  if (SSL_CTX_use_PrivateKey(native, key.get()) != 1) {
    return tls_error("cannot use key " + files.key_file + ": " + openssl_reason());
  }

  if (!files.client_ca_file.empty()) {
    ctx->load_verify_file(files.client_ca_file, ec);
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca_file.c_str());
    if (ec || names == nullptr) {
      return tls_error("client CA file " + files.client_ca_file +
                       " has no usable PEM CA: " + (ec ? ec.message() : openssl_reason()));
    }
    SSL_CTX_set_client_CA_list(native, names);  // takes ownership
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  }

  LoadedTls out;
  out.info = describe(SSL_CTX_get0_certificate(native));
  out.info.key_type = std::move(*key_type);
  out.context = std::move(ctx);
  return out;
}

}  // namespace revrouter::server
