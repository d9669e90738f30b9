// Reading and atomically writing the small files certs/ deals in (PEM certificates and keys).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "admission/result.h"

namespace revrouter::certs {

inline constexpr mode_t kCertFileMode = 0644;
inline constexpr mode_t kKeyFileMode = 0600;

// Writes `content` to a temporary file in the same directory, with `mode` set before any byte
// is written, fsyncs it and renames it over `path`: readers (and a TLS reloader watching the
// file) see either the old file or the complete new one, never a partial key.
Status write_file_atomic(const std::filesystem::path& path, std::string_view content, mode_t mode);

// The whole file; error "unreadable" with the path and the OS error.
Result<std::string> read_file(const std::filesystem::path& path);

}  // namespace revrouter::certs
