// Private-key generation for the CA and the certificates it issues, and naming of key types
// (the names are the CLI's --key-type values and what the certificate check reports).
#pragma once

#include <string>
#include <string_view>

#include "admission/result.h"
#include "certs/openssl_handles.h"

namespace revrouter::certs {

enum class KeyType { kEcdsaP256, kEcdsaP384, kRsa2048, kRsa3072 };

inline constexpr KeyType kDefaultKeyType = KeyType::kEcdsaP256;

// "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072".
std::string_view key_type_name(KeyType type);

// The inverse of key_type_name; error code "key_type" lists the accepted names.
Result<KeyType> parse_key_type(std::string_view name);

// A fresh key pair of `type`.
Result<PkeyPtr> generate_key(KeyType type);

// The KeyType of an existing key, or error "unsupported_key_type" naming what it is
// (e.g. "ED25519", "rsa-1024", "EC curve secp256k1"). Only the types above are accepted.
Result<KeyType> classify_key(const EVP_PKEY* key);

// True for RSA types: their leaf certificates also get keyEncipherment.
bool is_rsa(KeyType type);

}  // namespace revrouter::certs
