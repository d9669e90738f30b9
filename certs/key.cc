#include "certs/key.h"

#include <openssl/core_names.h>
#include <openssl/obj_mac.h>

#include <array>
#include <string>

namespace revrouter::certs {
namespace {

struct KeyTypeName {
  KeyType type;
  std::string_view name;
};

constexpr std::array<KeyTypeName, 4> kKeyTypeNames{{
    {KeyType::kEcdsaP256, "ecdsa-p256"},
    {KeyType::kEcdsaP384, "ecdsa-p384"},
    {KeyType::kRsa2048, "rsa-2048"},
    {KeyType::kRsa3072, "rsa-3072"},
}};

}  // namespace

std::string_view key_type_name(KeyType type) {
  for (const auto& entry : kKeyTypeNames) {
    if (entry.type == type) return entry.name;
  }
  return "unknown";
}

Result<KeyType> parse_key_type(std::string_view name) {
  for (const auto& entry : kKeyTypeNames) {
    if (entry.name == name) return entry.type;
  }
  std::string accepted;
  for (const auto& entry : kKeyTypeNames) {
    if (!accepted.empty()) accepted += ", ";
    accepted += entry.name;
  }
  return make_error("key_type",
                    "unknown key type \"" + std::string(name) + "\"; use one of: " + accepted);
}

bool is_rsa(KeyType type) { return type == KeyType::kRsa2048 || type == KeyType::kRsa3072; }

Result<PkeyPtr> generate_key(KeyType type) {
  clear_openssl_errors();
  PkeyPtr key;
  switch (type) {
    case KeyType::kEcdsaP256:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
      break;
    case KeyType::kEcdsaP384:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
      break;
    case KeyType::kRsa2048:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
      break;
    case KeyType::kRsa3072:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072}));
      break;
  }
  if (!key) {
    return make_error("keygen", "generating a " + std::string(key_type_name(type)) +
                                    " key failed: " + take_openssl_errors());
  }
  return key;
}

Result<KeyType> classify_key(const EVP_PKEY* key) {
  if (key == nullptr) return make_error("unsupported_key_type", "no key");
  if (EVP_PKEY_is_a(key, "RSA")) {
    const int bits = EVP_PKEY_get_bits(key);
    if (bits == 2048) return KeyType::kRsa2048;
    if (bits == 3072) return KeyType::kRsa3072;
    return make_error("unsupported_key_type", "rsa-" + std::to_string(bits) +
                                                  " keys are not supported; use rsa-2048, "
                                                  "rsa-3072, ecdsa-p256 or ecdsa-p384");
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1) {
      clear_openssl_errors();
      return make_error("unsupported_key_type",
                        "EC key with explicit or unknown curve "
                        "parameters; use a named curve (P-256 or P-384)");
    }
    const std::string_view name(group, len);
    // OpenSSL may report either the SECG/X9.62 short name or the NIST name.
    if (name == SN_X9_62_prime256v1 || name == "P-256") return KeyType::kEcdsaP256;
    if (name == SN_secp384r1 || name == "P-384") return KeyType::kEcdsaP384;
    return make_error("unsupported_key_type",
                      "EC curve " + std::string(name) + " is not supported; use P-256 or P-384");
  }
  const char* type_name = EVP_PKEY_get0_type_name(key);
  return make_error("unsupported_key_type",
                    std::string(type_name != nullptr ? type_name : "unknown") +
                        " keys are not supported; use ecdsa-p256, ecdsa-p384, rsa-2048 or "
                        "rsa-3072");
}

}  // namespace revrouter::certs
