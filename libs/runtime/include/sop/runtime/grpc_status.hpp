#pragma once
/// The one mapping between sopstream's `Errc` and gRPC status codes. Handlers return
/// `ToGrpcStatus(error)`; clients turn a failed call into an `Error` with `FromGrpcStatus`.

#include <grpcpp/support/status.h>

#include <utility>

#include "sop/model/error.hpp"

namespace sop::runtime {

/// The gRPC code of an Errc (kInvalidArgument -> INVALID_ARGUMENT, ...). Total over Errc.
grpc::StatusCode ToGrpcCode(Errc code) noexcept;

/// The Errc of a gRPC code. Codes without an Errc of their own map to the nearest meaning:
/// UNKNOWN and UNIMPLEMENTED -> kInternal, RESOURCE_EXHAUSTED -> kUnavailable,
/// ABORTED -> kFailedPrecondition (retryable: a concurrency conflict may clear on retry).
Errc FromGrpcCode(grpc::StatusCode code) noexcept;

/// The status a handler returns for `error`: its code and message.
grpc::Status ToGrpcStatus(const Error& error);
/// OK for a success, the error's status otherwise.
grpc::Status ToGrpcStatus(const sop::Status& status);

/// A unary handler's answer: moves a successful `result` into `response` and returns OK, or
/// returns the error's status.
template <class T>
grpc::Status Reply(Result<T> result, T* response) {
  if (!result) return ToGrpcStatus(result.error());
  *response = std::move(*result);
  return grpc::Status::OK;
}

/// The Error of a status received by a client (kOk with an empty message for OK). Retryable as
/// the code's default, except ABORTED which is retryable.
Error FromGrpcStatus(const grpc::Status& status);

}  // namespace sop::runtime
