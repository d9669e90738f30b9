// Shared by the libFuzzer targets: the routing table from config/example.yaml (loaded once) and
// the invariants every handle_admission answer must satisfy. A broken invariant calls abort() so
// libFuzzer records the input as a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "admission/handler.h"
#include "admission/routing_config.h"

namespace revrouter::fuzz {

// The whole file, or abort(): the fuzz targets cannot run without their fixtures.
std::string read_file_or_die(const std::string& path);

// config/example.yaml with its template, loaded once per process through load_routing_table and
// a FileReader (the same path a reload takes).
const RoutingTable& example_table();

// The example sidecar template's text, for targets that need a valid template.
const std::string& example_template_text();

// Decodes standard base64 (as the response's patch field carries it); aborts on a bad alphabet.
std::string decode_base64_or_die(std::string_view in);

// Checks what every answer must satisfy: a 200 body is a JSON AdmissionReview that echoes
// `expected_uid`; a non-200 answer is text with an error code. Returns the parsed 200 body's
// decoded patch ("" when there is none). Aborts with a message on stderr otherwise.
std::string check_answer(const HandledRequest& r, std::string_view expected_uid);

[[noreturn]] void fail(const char* what, std::string_view detail);

}  // namespace revrouter::fuzz
