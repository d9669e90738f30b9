// PEM encoding and decoding of certificates and private keys, and the base64 caBundle that a
// MutatingWebhookConfiguration carries (standard base64 of the CA's PEM, no line breaks).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "admission/result.h"
#include "certs/openssl_handles.h"

namespace revrouter::certs {

Result<std::string> cert_to_pem(const X509* cert);

// Unencrypted PKCS#8 ("BEGIN PRIVATE KEY"); files holding it must be mode 0600.
Result<std::string> key_to_pem(const EVP_PKEY* key);

// The first certificate in `pem`. Errors: "not_pem" (no PEM block at all), "no_certificate"
// (PEM blocks, but none is a certificate, e.g. a key was given), "bad_certificate" (a
// CERTIFICATE block that does not parse).
Result<X509Ptr> cert_from_pem(std::string_view pem);

// Every certificate in `pem`, in order (a chain or bundle); same errors as cert_from_pem.
Result<std::vector<X509Ptr>> certs_from_pem(std::string_view pem);

// The first private key in `pem` (PKCS#8, or traditional RSA/EC). Errors: "not_pem",
// "no_private_key", "encrypted_key" (revrouter never prompts for a passphrase), "bad_key".
Result<PkeyPtr> key_from_pem(std::string_view pem);

// The label of the first PEM block ("CERTIFICATE", "PRIVATE KEY", ...), or empty if none.
std::string_view first_pem_label(std::string_view text);

// Standard base64 (RFC 4648 section 4) with padding and no line breaks.
std::string base64_encode(std::string_view data);

// Inverse of base64_encode; error "base64" on characters outside the alphabet or bad length.
Result<std::string> base64_decode(std::string_view text);

// The webhook caBundle for `ca_pem`: checks that it holds at least one certificate, that the
// first is a CA ("not_ca") and that no private key is mixed in ("private_key_in_bundle"), then
// returns base64_encode(ca_pem) of the text as given.
Result<std::string> ca_bundle_from_pem(std::string_view ca_pem);

}  // namespace revrouter::certs
