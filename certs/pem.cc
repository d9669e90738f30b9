#include "certs/pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <climits>

namespace revrouter::certs {
namespace {

constexpr std::string_view kBegin = "-----BEGIN ";
constexpr std::string_view kDashes = "-----";

// Refuses instead of prompting on the terminal, which is OpenSSL's default for encrypted keys.
int refuse_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return -1; }

bool is_pem_eof(unsigned long err) {  // NOLINT(google-runtime-int): OpenSSL's type
  return ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
}

bool has_label(std::string_view text, std::string_view label) {
  size_t pos = 0;
  while ((pos = text.find(kBegin, pos)) != std::string_view::npos) {
    pos += kBegin.size();
    if (text.substr(pos).starts_with(label) &&
        text.substr(pos + label.size()).starts_with(kDashes)) {
      return true;
    }
  }
  return false;
}

Error no_block_error(std::string_view pem, std::string_view code, std::string_view wanted) {
  const std::string_view found = first_pem_label(pem);
  if (found.empty()) {
    return make_error("not_pem", "not PEM: no \"-----BEGIN ...-----\" line found");
  }
  return make_error(std::string(code), "no " + std::string(wanted) +
                                           " PEM block found (the first "
                                           "block is \"" +
                                           std::string(found) + "\")");
}

}  // namespace

std::string_view first_pem_label(std::string_view text) {
  const size_t begin = text.find(kBegin);
  if (begin == std::string_view::npos) return {};
  const size_t start = begin + kBegin.size();
  const size_t end = text.find(kDashes, start);
  const size_t eol = text.find('\n', start);
  if (end == std::string_view::npos || (eol != std::string_view::npos && eol < end)) return {};
  return text.substr(start, end - start);
}

Result<std::string> cert_to_pem(const X509* cert) {
  clear_openssl_errors();
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return make_error("openssl", "PEM-encoding a certificate: " + take_openssl_errors());
  }
  return memory_bio_contents(bio.get());
}

Result<std::string> key_to_pem(const EVP_PKEY* key) {
  clear_openssl_errors();
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return make_error("openssl", "PEM-encoding a private key: " + take_openssl_errors());
  }
  return memory_bio_contents(bio.get());
}

Result<std::vector<X509Ptr>> certs_from_pem(std::string_view pem) {
  clear_openssl_errors();
  if (!has_label(pem, "CERTIFICATE")) return no_block_error(pem, "no_certificate", "CERTIFICATE");
  BioPtr bio = memory_bio_view(pem);
  if (!bio) return make_error("openssl", "reading PEM: " + take_openssl_errors());
  std::vector<X509Ptr> certs;
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, refuse_passphrase, nullptr));
    if (!cert) {
      const auto err = ERR_peek_last_error();
      if (!certs.empty() && is_pem_eof(err)) {
        clear_openssl_errors();
        break;
      }
      return make_error("bad_certificate",
                        "certificate " + std::to_string(certs.size() + 1) +
                            " in the PEM does not parse: " + take_openssl_errors());
    }
    certs.push_back(std::move(cert));
  }
  return certs;
}

Result<X509Ptr> cert_from_pem(std::string_view pem) {
  clear_openssl_errors();
  if (!has_label(pem, "CERTIFICATE")) return no_block_error(pem, "no_certificate", "CERTIFICATE");
  BioPtr bio = memory_bio_view(pem);
  if (!bio) return make_error("openssl", "reading PEM: " + take_openssl_errors());
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, refuse_passphrase, nullptr));
  if (!cert) {
    return make_error("bad_certificate",
                      "the CERTIFICATE PEM block does not parse: " + take_openssl_errors());
  }
  return cert;
}

Result<PkeyPtr> key_from_pem(std::string_view pem) {
  clear_openssl_errors();
  if (has_label(pem, "ENCRYPTED PRIVATE KEY") ||
      (pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos)) {
    return make_error("encrypted_key",
                      "the private key is encrypted; revrouter needs an unencrypted key (decrypt "
                      "it with `openssl pkey -in KEY -out KEY.plain` and keep it mode 0600)");
  }
  if (!has_label(pem, "PRIVATE KEY") && !has_label(pem, "RSA PRIVATE KEY") &&
      !has_label(pem, "EC PRIVATE KEY")) {
    return no_block_error(pem, "no_private_key", "PRIVATE KEY");
  }
  BioPtr bio = memory_bio_view(pem);
  if (!bio) return make_error("openssl", "reading PEM: " + take_openssl_errors());
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
  if (!key) {
    return make_error("bad_key",
                      "the private key PEM block does not parse: " + take_openssl_errors());
  }
  return key;
}

std::string base64_encode(std::string_view data) {
  std::string out;
  if (data.empty()) return out;
  // EVP_EncodeBlock writes 4 characters per 3 input bytes, no newlines, plus a NUL.
  out.resize(4 * ((data.size() + 2) / 3) + 1);
  size_t written = 0;
  // EVP_EncodeBlock takes an int length; encode in chunks that are a multiple of 3 bytes.
  constexpr size_t kChunk = 3 * (1 << 20);
  for (size_t pos = 0; pos < data.size(); pos += kChunk) {
    const size_t n = std::min(kChunk, data.size() - pos);
    const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + written),
                                    reinterpret_cast<const unsigned char*>(data.data() + pos),
                                    static_cast<int>(n));
    written += static_cast<size_t>(len);
  }
  out.resize(written);
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  if (text.empty()) return std::string();
  if (text.size() % 4 != 0) {
    return make_error("base64",
                      "base64 length " + std::to_string(text.size()) + " is not a multiple of 4");
  }
  if (text.size() > static_cast<size_t>(INT_MAX)) {
    return make_error("base64", "base64 text too long");
  }
  size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  // EVP_DecodeBlock skips leading/trailing whitespace but rejects anything else outside the
  // alphabet, and returns the length including the bytes that padding stood for.
  std::string out(text.size() / 4 * 3, '\0');
  const int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
  if (len < 0 || static_cast<size_t>(len) < padding) {
    return make_error("base64", "text is not valid standard base64");
  }
  // '=' is only allowed as padding at the very end.
  if (text.substr(0, text.size() - padding).find('=') != std::string_view::npos) {
    return make_error("base64", "text is not valid standard base64 ('=' before the end)");
  }
  out.resize(static_cast<size_t>(len) - padding);
  return out;
}

Result<std::string> ca_bundle_from_pem(std::string_view ca_pem) {
  // The bundle is published in the webhook configuration; a key pasted into the same file must
  // not travel with it.
  if (ca_pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    return make_error("private_key_in_bundle",
                      "the CA file also contains a private key; the caBundle must hold only "
                      "certificates (use ca.crt, not a combined certificate+key file)");
  }
  auto certs = certs_from_pem(ca_pem);
  if (!certs) return certs.error();
  if (X509_check_ca(certs->front().get()) == 0) {
    return make_error("not_ca",
                      "the certificate is not a CA (basicConstraints CA:TRUE missing); "
                      "the caBundle needs the CA certificate (ca.crt), not the serving "
                      "certificate");
  }
  return base64_encode(ca_pem);
}

}  // namespace revrouter::certs
