#include "sop/runtime/grpc_status.hpp"

namespace sop::runtime {

grpc::StatusCode ToGrpcCode(Errc code) noexcept {
  switch (code) {
    case Errc::kOk:
      return grpc::StatusCode::OK;
    case Errc::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case Errc::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case Errc::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case Errc::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case Errc::kOutOfRange:
      return grpc::StatusCode::OUT_OF_RANGE;
    case Errc::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case Errc::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case Errc::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    case Errc::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case Errc::kDataLoss:
      return grpc::StatusCode::DATA_LOSS;
    case Errc::kInternal:
      return grpc::StatusCode::INTERNAL;
    case Errc::kCancelled:
      return grpc::StatusCode::CANCELLED;
  }
  return grpc::StatusCode::UNKNOWN;
}

Errc FromGrpcCode(grpc::StatusCode code) noexcept {
  switch (code) {
    case grpc::StatusCode::OK:
      return Errc::kOk;
    case grpc::StatusCode::CANCELLED:
      return Errc::kCancelled;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Errc::kInvalidArgument;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Errc::kDeadlineExceeded;
    case grpc::StatusCode::NOT_FOUND:
      return Errc::kNotFound;
    case grpc::StatusCode::ALREADY_EXISTS:
      return Errc::kAlreadyExists;
    case grpc::StatusCode::PERMISSION_DENIED:
      return Errc::kPermissionDenied;
    case grpc::StatusCode::UNAUTHENTICATED:
      return Errc::kUnauthenticated;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Errc::kUnavailable;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return Errc::kFailedPrecondition;
    case grpc::StatusCode::ABORTED:
      return Errc::kFailedPrecondition;
    case grpc::StatusCode::OUT_OF_RANGE:
      return Errc::kOutOfRange;
    case grpc::StatusCode::UNAVAILABLE:
      return Errc::kUnavailable;
    case grpc::StatusCode::DATA_LOSS:
      return Errc::kDataLoss;
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::INTERNAL:
    default:
      return Errc::kInternal;
  }
}

grpc::Status ToGrpcStatus(const Error& error) {
  return grpc::Status(ToGrpcCode(error.code()), error.message());
}

grpc::Status ToGrpcStatus(const sop::Status& status) {
  return status ? grpc::Status::OK : ToGrpcStatus(status.error());
}

Error FromGrpcStatus(const grpc::Status& status) {
  const Errc code = FromGrpcCode(status.error_code());
  if (status.error_code() == grpc::StatusCode::ABORTED) {
    return Error(code, status.error_message(), /*retryable=*/true);
  }
  return Error(code, status.error_message());
}

}  // namespace sop::runtime
