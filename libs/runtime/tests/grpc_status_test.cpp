#include "sop/runtime/grpc_status.hpp"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace sop::runtime {
namespace {

// Every Errc with the gRPC code it must map to; a new Errc without a row here fails the
// count check below.
const std::vector<std::pair<Errc, grpc::StatusCode>> kTable = {
    {Errc::kOk, grpc::StatusCode::OK},
    {Errc::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
    {Errc::kNotFound, grpc::StatusCode::NOT_FOUND},
    {Errc::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
    {Errc::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
    {Errc::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
    {Errc::kUnavailable, grpc::StatusCode::UNAVAILABLE},
    {Errc::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
    {Errc::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
    {Errc::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
    {Errc::kDataLoss, grpc::StatusCode::DATA_LOSS},
    {Errc::kInternal, grpc::StatusCode::INTERNAL},
    {Errc::kCancelled, grpc::StatusCode::CANCELLED},
};

TEST(GrpcStatus, TableCoversEveryErrc) {
  // Errc values are dense from kOk to kCancelled.
  EXPECT_EQ(kTable.size(), static_cast<std::size_t>(Errc::kCancelled) + 1);
  for (std::size_t i = 0; i < kTable.size(); ++i) {
    EXPECT_EQ(static_cast<std::size_t>(kTable[i].first), i);
  }
}

TEST(GrpcStatus, EveryErrcMapsToItsGrpcCodeAndRoundTrips) {
  for (const auto& [errc, code] : kTable) {
    const Error original(errc, "item 42: message for " + std::string(ToString(errc)));
    const grpc::Status status = ToGrpcStatus(original);
    EXPECT_EQ(status.error_code(), code) << ToString(errc);
    EXPECT_EQ(status.error_message(), original.message());
    const Error back = FromGrpcStatus(status);
    EXPECT_EQ(back, original) << ToString(errc);
    EXPECT_EQ(back.retryable(), errc == Errc::kUnavailable || errc == Errc::kDeadlineExceeded);
  }
}

TEST(GrpcStatus, CodesWithoutAnErrcMapToTheNearestMeaning) {
  EXPECT_EQ(FromGrpcCode(grpc::StatusCode::UNKNOWN), Errc::kInternal);
  EXPECT_EQ(FromGrpcCode(grpc::StatusCode::UNIMPLEMENTED), Errc::kInternal);
  EXPECT_EQ(FromGrpcCode(grpc::StatusCode::RESOURCE_EXHAUSTED), Errc::kUnavailable);
  EXPECT_TRUE(FromGrpcStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "q")).retryable());
  const Error aborted = FromGrpcStatus(grpc::Status(grpc::StatusCode::ABORTED, "conflict"));
  EXPECT_EQ(aborted.code(), Errc::kFailedPrecondition);
  EXPECT_TRUE(aborted.retryable());
}

TEST(GrpcStatus, StatusOverloadIsOkForSuccessAndTheErrorOtherwise) {
  EXPECT_TRUE(ToGrpcStatus(sop::Status{}).ok());
  const sop::Status failed = Fail(Errc::kNotFound, "site S9");
  const grpc::Status status = ToGrpcStatus(failed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "site S9");
}

}  // namespace
}  // namespace sop::runtime
