// RAII owners for the OpenSSL objects certs/ works with, and OpenSSL's error queue as a message.
// Every OpenSSL allocation in certs/ goes straight into one of these so error paths cannot leak.
#pragma once

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

namespace revrouter::certs {

template <auto FreeFn>
struct OpenSslDeleter {
  template <class T>
  void operator()(T* p) const {
    FreeFn(p);
  }
};

template <class T, auto FreeFn>
using OpenSslPtr = std::unique_ptr<T, OpenSslDeleter<FreeFn>>;

using PkeyPtr = OpenSslPtr<EVP_PKEY, EVP_PKEY_free>;
using X509Ptr = OpenSslPtr<X509, X509_free>;
using BioPtr = OpenSslPtr<BIO, BIO_free_all>;
using BignumPtr = OpenSslPtr<BIGNUM, BN_free>;
using X509StorePtr = OpenSslPtr<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = OpenSslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using GeneralNamesPtr = OpenSslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using GeneralNamePtr = OpenSslPtr<GENERAL_NAME, GENERAL_NAME_free>;
using Asn1OctetStringPtr = OpenSslPtr<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using Asn1BitStringPtr = OpenSslPtr<ASN1_BIT_STRING, ASN1_BIT_STRING_free>;
using Asn1IntegerPtr = OpenSslPtr<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1TimePtr = OpenSslPtr<ASN1_TIME, ASN1_TIME_free>;
using BasicConstraintsPtr = OpenSslPtr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
using AuthorityKeyIdPtr = OpenSslPtr<AUTHORITY_KEYID, AUTHORITY_KEYID_free>;
using ExtendedKeyUsagePtr = OpenSslPtr<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>;

// Drains this thread's OpenSSL error queue into one line ("error:...; error:..."), or
// "no OpenSSL error reported" when it is empty. Call right after the failing OpenSSL call.
std::string take_openssl_errors();

// Clears this thread's OpenSSL error queue, so a later failure reports only its own errors.
void clear_openssl_errors();

// A memory BIO reading `data` without copying it; `data` must outlive the BIO.
BioPtr memory_bio_view(std::string_view data);

// The bytes written so far to a memory BIO.
std::string memory_bio_contents(BIO* bio);

}  // namespace revrouter::certs
