#pragma once
/// The one error model of sopstream: `Result<T>` is `std::expected<T, Error>`.
///
/// An `Error` carries a code, a message that names the field and the value a person must fix,
/// and whether retrying the same operation can help (a broker or Redis outage: yes; bad input:
/// no). Exceptions are reserved for start-up and configuration errors. gRPC status mapping lives
/// once, in libs/runtime.

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace sop {

/// Error codes, deliberately close to the canonical gRPC codes so the mapping is obvious.
enum class Errc {
  kOk = 0,
  kInvalidArgument,    ///< bad input: a field is missing, malformed or out of bounds
  kNotFound,           ///< a referenced entity does not exist
  kAlreadyExists,      ///< a create of something that exists (e.g. a duplicate event id)
  kFailedPrecondition, ///< the system is not in a state that allows the operation
  kOutOfRange,         ///< a position (offset, bucket) outside what exists
  kUnavailable,        ///< a dependency (broker, Redis) cannot be reached; retry can help
  kDeadlineExceeded,   ///< an operation did not finish in time; retry can help
  kUnauthenticated,    ///< no or unknown credentials
  kPermissionDenied,   ///< credentials known, role insufficient
  kDataLoss,           ///< data that should exist is gone (e.g. committed offset out of the log)
  kInternal,           ///< a broken invariant
  kCancelled,          ///< the operation was stopped (shutdown)
};

/// Human-readable name of a code, e.g. "INVALID_ARGUMENT".
constexpr std::string_view ToString(Errc code) noexcept {
  switch (code) {
    case Errc::kOk: return "OK";
    case Errc::kInvalidArgument: return "INVALID_ARGUMENT";
    case Errc::kNotFound: return "NOT_FOUND";
    case Errc::kAlreadyExists: return "ALREADY_EXISTS";
    case Errc::kFailedPrecondition: return "FAILED_PRECONDITION";
    case Errc::kOutOfRange: return "OUT_OF_RANGE";
    case Errc::kUnavailable: return "UNAVAILABLE";
    case Errc::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case Errc::kUnauthenticated: return "UNAUTHENTICATED";
    case Errc::kPermissionDenied: return "PERMISSION_DENIED";
    case Errc::kDataLoss: return "DATA_LOSS";
    case Errc::kInternal: return "INTERNAL";
    case Errc::kCancelled: return "CANCELLED";
  }
  return "UNKNOWN";
}

/// An error: code, actionable message, and whether a retry can help.
class Error {
 public:
  Error(Errc code, std::string message)
      : code_(code), message_(std::move(message)), retryable_(DefaultRetryable(code)) {}
  Error(Errc code, std::string message, bool retryable)
      : code_(code), message_(std::move(message)), retryable_(retryable) {}

  Errc code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  bool retryable() const noexcept { return retryable_; }

  /// "INVALID_ARGUMENT: quantity: must be >= 0, got -5"
  std::string ToString() const { return std::string(sop::ToString(code_)) + ": " + message_; }

  friend bool operator==(const Error&, const Error&) = default;

 private:
  static constexpr bool DefaultRetryable(Errc code) noexcept {
    return code == Errc::kUnavailable || code == Errc::kDeadlineExceeded;
  }

  Errc code_;
  std::string message_;
  bool retryable_;
};

template <class T>
using Result = std::expected<T, Error>;

/// Result of an operation that yields no value.
using Status = std::expected<void, Error>;

/// Shorthand for returning an error: `return Fail(Errc::kInvalidArgument, "site: empty");`
inline std::unexpected<Error> Fail(Errc code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}

/// An invalid-argument error that names the field and the offending value.
inline std::unexpected<Error> InvalidField(std::string_view field, std::string_view problem,
                                           std::string_view value) {
  std::string message;
  message.reserve(field.size() + problem.size() + value.size() + 16);
  message.append(field).append(": ").append(problem).append(", got '").append(value).append("'");
  return std::unexpected<Error>(Error(Errc::kInvalidArgument, std::move(message)));
}

}  // namespace sop
