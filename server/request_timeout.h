// The request deadline kube-apiserver asks for: it appends `?timeout=<Go duration>` to every
// webhook call and abandons the call after it, so the answer has to leave before that.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "admission/result.h"

namespace revrouter::server {

// Go's time.ParseDuration: an optional sign, then one or more decimal numbers with an optional
// fraction, each followed by a unit ("ns", "us", "µs", "μs", "ms", "s", "m", "h"), e.g. "10s",
// "1m30s", "1.5h"; "0" alone needs no unit. Errors (code "bad_timeout") quote the input and say
// what is wrong. Values beyond ±292 years are rejected, as Go does.
Result<std::chrono::nanoseconds> parse_go_duration(std::string_view text);

// The value of the `timeout` parameter in a query string ("a=b&timeout=10s"), nullopt when the
// parameter is absent. A present value must be a positive Go duration (code "bad_timeout").
Result<std::optional<std::chrono::nanoseconds>> timeout_from_query(std::string_view query);

// How long we have to answer: the requested timeout minus a safety margin for the trip back to
// the API server, but never less than half the timeout (a margin larger than a short timeout
// would otherwise leave nothing).
std::chrono::nanoseconds answer_budget(std::chrono::nanoseconds timeout,
                                       std::chrono::nanoseconds margin);

}  // namespace revrouter::server
