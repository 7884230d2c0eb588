// SPDX-License-Identifier: Apache-2.0
// ControlServiceImpl refusing bad requests: each bad field named by its
// path, the gRPC code each core error maps to, and nothing reaching the
// core (the happy paths are in control_service_test.cc).
#include "tests/control/api/control_service_fixture.h"

namespace sluice::control::api {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// --- Refused here, by field path; nothing reaches the core ---

struct BadService {
  const char* name;
  const char* text;      // the service, in text format
  const char* message;   // the whole status message
};

class ApplyBadServiceTest : public ControlServiceTest,
                            public ::testing::WithParamInterface<BadService> {};

// Each bad field is INVALID_ARGUMENT with its path under "service", and the core sees nothing.
TEST_P(ApplyBadServiceTest, RefusedWithFieldPath) {
  const grpc::Status status = apply_refused(service_from_text(GetParam().text));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), GetParam().message);
  EXPECT_THAT(core_.calls(), IsEmpty());
  // ... but the refusal is audited, with the whole message.
  const auto refusals = core_.refusals();
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0].method, "ApplyService");
  EXPECT_EQ(refusals[0].reason, GetParam().message);
  EXPECT_EQ(refusals[0].caller.peer, "in-process");
  EXPECT_FALSE(refusals[0].dry_run);
}

INSTANTIATE_TEST_SUITE_P(
    Fields, ApplyBadServiceTest,
    ::testing::Values(
        BadService{"BadBackendAddress", R"pb(
          name: "web" vip: "10.77.100.10" port: 80
          pools { name: "stable" weight: 90 backends { address: "10.0.0.1" } }
          pools { name: "canary" weight: 10 backends { address: "10.0.0.300" } })pb",
                   "service.pools[1].backends[0].address: \"10.0.0.300\" is not an IPv4 or IPv6 address"},
        BadService{"BadVip", R"pb(
          name: "web" vip: "web.example.com" port: 80
          pools { name: "stable" weight: 1 backends { address: "10.0.0.1" } })pb",
                   "service.vip: \"web.example.com\" is not an IPv4 or IPv6 address"},
        BadService{"CidrLengthTooLong", R"pb(
          name: "web" vip: "10.77.100.10" port: 80
          pools { name: "stable" weight: 1 backends { address: "10.0.0.1" } }
          rules { source_cidr: "10.20.0.0/33" pool: "stable" })pb",
                   "service.rules[0].source_cidr: \"10.20.0.0/33\" is not a CIDR prefix: the length must be 0..32"},
        BadService{"CidrHostBits", R"pb(
          name: "web" vip: "10.77.100.10" port: 80
          pools { name: "stable" weight: 1 backends { address: "10.0.0.1" } }
          rules { source_cidr: "10.20.1.0/16" pool: "stable" })pb",
                   "service.rules[0].source_cidr: \"10.20.1.0/16\" has host bits set beyond /16 (did you mean 10.20.0.0/16?)"},
        BadService{"PortZero", R"pb(
          name: "web" vip: "10.77.100.10" port: 0
          pools { name: "stable" weight: 1 backends { address: "10.0.0.1" } })pb",
                   "service.port: 0 is out of range 1..65535"},
        BadService{"PortTooLarge", R"pb(
          name: "web" vip: "10.77.100.10" port: 70000
          pools { name: "stable" weight: 1 backends { address: "10.0.0.1" } })pb",
                   "service.port: 70000 is out of range 1..65535"},
        BadService{"UnknownPoolInRule", R"pb(
          name: "web" vip: "10.77.100.10" port: 80
          pools { name: "stable" weight: 1 backends { address: "10.0.0.1" } }
          rules { source_cidr: "10.20.0.0/16" pool: "blue" })pb",
                   "service.rules[0].pool: unknown pool \"blue\""},
        BadService{"PoolWeightOutOfRange", R"pb(
          name: "web" vip: "10.77.100.10" port: 80
          pools { name: "stable" weight: 1000001 backends { address: "10.0.0.1" } })pb",
                   "service.pools[0].weight: 1000001 is out of range 0..1000000"},
        BadService{"BackendWeightZero", R"pb(
          name: "web" vip: "10.77.100.10" port: 80
          pools { name: "stable" weight: 1 backends { address: "10.0.0.1" weight: 0 } })pb",
                   "service.pools[0].backends[0].weight: 0 is out of range 1..1000000"},
        BadService{"PoolWeightAbsent", R"pb(
          name: "web" vip: "10.77.100.10" port: 80
          pools { name: "stable" backends { address: "10.0.0.1" } })pb",
                   "service.pools[0].weight: must be set (write 0 for a pool that takes no share of new flows)"},
        BadService{"EmptyName", R"pb(
          vip: "10.77.100.10" port: 80
          pools { name: "stable" weight: 1 backends { address: "10.0.0.1" } })pb",
                   "service.name: must not be empty"},
        BadService{"UnknownProtocol", R"pb(
          name: "web" vip: "10.77.100.10" port: 80 protocol: 9
          pools { name: "stable" weight: 1 backends { address: "10.0.0.1" } })pb",
                   "service.protocol: unknown value 9"},
        BadService{"SeveralErrorsAllReported", R"pb(
          name: "web" vip: "10.77.100.10" port: 0
          pools { name: "stable" weight: 1 backends { address: "10.0.0.300" } })pb",
                   "service.pools[0].backends[0].address: \"10.0.0.300\" is not an IPv4 or IPv6 address; "
                   "service.port: 0 is out of range 1..65535"}),
    [](const auto& info) { return std::string(info.param.name); });

// A request without a service is refused as such.
TEST_F(ControlServiceTest, ApplyWithoutServiceRefused) {
  v1::MutationResponse response;
  const grpc::Status status = apply(v1::ApplyServiceRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "service: must be set");
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// Delete and Get need a name.
TEST_F(ControlServiceTest, EmptyNamesRefused) {
  grpc::ClientContext delete_context;
  v1::MutationResponse mutation;
  grpc::Status status =
      stub_->DeleteService(&delete_context, v1::DeleteServiceRequest(), &mutation);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "name: must be set");
  grpc::ClientContext get_context;
  v1::GetServiceResponse got;
  status = stub_->GetService(&get_context, v1::GetServiceRequest(), &got);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "name: must be set");
  EXPECT_THAT(core_.calls(), IsEmpty());
}

// GetService of an unknown name is NOT_FOUND.
TEST_F(ControlServiceTest, GetUnknownServiceNotFound) {
  add_both();
  v1::GetServiceRequest request;
  request.set_name("mail");
  grpc::ClientContext context;
  v1::GetServiceResponse response;
  const grpc::Status status = stub_->GetService(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "no service named \"mail\" (revision 2)");
}

// SetWeights: every problem of the request named at once, nothing sent on.
TEST_F(ControlServiceTest, SetWeightsBadRequestRefused) {
  v1::SetWeightsRequest request;
  (*request.mutable_weights())["stable"] = 1000001;
  (*request.mutable_weights())[""] = 5;
  grpc::ClientContext context;
  v1::MutationResponse response;
  const grpc::Status status = stub_->SetWeights(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "service: must be set; weights[\"\"]: a pool name must not be empty; "
            "weights[\"stable\"]: 1000001 is out of range 0..1000000");
  EXPECT_THAT(core_.calls(), IsEmpty());
  ASSERT_EQ(core_.refusals().size(), 1u);
  EXPECT_EQ(core_.refusals()[0].method, "SetWeights");
  EXPECT_EQ(core_.refusals()[0].reason, status.error_message());
}

// A dry run refused here is audited as a dry run, with its service.
TEST_F(ControlServiceTest, RefusedDryRunAudited) {
  v1::SetWeightsRequest request;
  request.set_service("web");
  request.set_dry_run(true);
  (*request.mutable_weights())["canary"] = 2000000;
  grpc::ClientContext context;
  v1::MutationResponse response;
  EXPECT_EQ(stub_->SetWeights(&context, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  const auto refusals = core_.refusals();
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0].service, "web");
  EXPECT_TRUE(refusals[0].dry_run);
  EXPECT_EQ(refusals[0].reason, "weights[\"canary\"]: 2000000 is out of range 0..1000000");
}

// Reads and accepted changes are not refusals.
TEST_F(ControlServiceTest, NoRefusalAuditedForGoodCalls) {
  add_both();
  v1::SetWeightsRequest request;
  request.set_service("web");
  (*request.mutable_weights())["canary"] = 20;
  grpc::ClientContext context;
  v1::MutationResponse response;
  ASSERT_TRUE(stub_->SetWeights(&context, request, &response).ok());
  grpc::ClientContext get_context;
  v1::GetServiceResponse got;
  EXPECT_FALSE(stub_->GetService(&get_context, v1::GetServiceRequest(), &got).ok());
  EXPECT_THAT(core_.refusals(), IsEmpty());
}

// SetWeights with no weights at all is refused.
TEST_F(ControlServiceTest, SetWeightsEmptyRefused) {
  v1::SetWeightsRequest request;
  request.set_service("web");
  grpc::ClientContext context;
  v1::MutationResponse response;
  const grpc::Status status = stub_->SetWeights(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "weights: name at least one pool");
  EXPECT_THAT(core_.calls(), IsEmpty());
}

struct BadBackendRequest {
  const char* name;
  const char* service;
  const char* address;
  int state;
  const char* message;
};

class SetBackendStateBadTest : public ControlServiceTest,
                               public ::testing::WithParamInterface<BadBackendRequest> {};

// Bad address, unset or unknown state, missing service: INVALID_ARGUMENT naming the field.
TEST_P(SetBackendStateBadTest, RefusedWithField) {
  v1::SetBackendStateRequest request;
  request.set_service(GetParam().service);
  request.set_address(GetParam().address);
  request.set_state(static_cast<v1::BackendState>(GetParam().state));
  grpc::ClientContext context;
  v1::MutationResponse response;
  const grpc::Status status = stub_->SetBackendState(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), GetParam().message);
  EXPECT_THAT(core_.calls(), IsEmpty());
  ASSERT_EQ(core_.refusals().size(), 1u);
  EXPECT_EQ(core_.refusals()[0].method, "SetBackendState");
  EXPECT_EQ(core_.refusals()[0].service, GetParam().service);
}

INSTANTIATE_TEST_SUITE_P(
    Fields, SetBackendStateBadTest,
    ::testing::Values(
        BadBackendRequest{"MalformedAddress", "web", "10.0.0.300", v1::BACKEND_STATE_DRAINING,
                          "address: \"10.0.0.300\" is not an IPv4 or IPv6 address"},
        BadBackendRequest{"EmptyAddress", "web", "", v1::BACKEND_STATE_DRAINING,
                          "address: must be set"},
        BadBackendRequest{"UnspecifiedState", "web", "10.0.0.1", v1::BACKEND_STATE_UNSPECIFIED,
                          "state: must be set: BACKEND_STATE_ACTIVE, BACKEND_STATE_DRAINING or "
                          "BACKEND_STATE_DISABLED"},
        BadBackendRequest{"UnknownState", "web", "10.0.0.1", 7, "state: unknown value 7"},
        BadBackendRequest{"EmptyService", "", "10.0.0.1", v1::BACKEND_STATE_DISABLED,
                          "service: must be set"}),
    [](const auto& info) { return std::string(info.param.name); });

// --- The core's errors as status codes ---

struct CodeCase {
  ErrorCode code;
  grpc::StatusCode expected;
};

std::string code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "InvalidArgument";
    case ErrorCode::kFailedPrecondition: return "FailedPrecondition";
    case ErrorCode::kNotFound: return "NotFound";
    case ErrorCode::kDeadlineExceeded: return "DeadlineExceeded";
    case ErrorCode::kPermissionDenied: return "PermissionDenied";
    case ErrorCode::kInternal: return "Internal";
    case ErrorCode::kUnavailable: return "Unavailable";
    case ErrorCode::kResourceExhausted: return "ResourceExhausted";
  }
  return "Unknown";
}

class ErrorCodeTest : public ControlServiceTest, public ::testing::WithParamInterface<CodeCase> {};

// Every CallError code becomes its gRPC code, with the core's message and the revision.
TEST_P(ErrorCodeTest, MutationErrorsMapped) {
  add_both();
  // Each mutating RPC in turn, so that every one goes through the mapping.
  const auto calls = std::vector<std::function<grpc::Status(grpc::ClientContext*)>>{
      [&](grpc::ClientContext* c) {
        v1::ApplyServiceRequest r;
        *r.mutable_service() = service_from_text(kWebService);
        v1::MutationResponse m;
        return stub_->ApplyService(c, r, &m);
      },
      [&](grpc::ClientContext* c) {
        v1::DeleteServiceRequest r;
        r.set_name("web");
        v1::MutationResponse m;
        return stub_->DeleteService(c, r, &m);
      },
      [&](grpc::ClientContext* c) {
        v1::SetWeightsRequest r;
        r.set_service("web");
        (*r.mutable_weights())["stable"] = 1;
        v1::MutationResponse m;
        return stub_->SetWeights(c, r, &m);
      },
      [&](grpc::ClientContext* c) {
        v1::SetBackendStateRequest r;
        r.set_service("web");
        r.set_address("10.77.0.21");
        r.set_state(v1::BACKEND_STATE_DRAINING);
        v1::MutationResponse m;
        return stub_->SetBackendState(c, r, &m);
      },
  };
  for (const auto& call : calls) {
    core_.fail_next(GetParam().code, "the core says no");
    grpc::ClientContext context;
    const grpc::Status status = call(&context);
    EXPECT_EQ(status.error_code(), GetParam().expected);
    EXPECT_EQ(status.error_message(), "the core says no");
    const auto& trailers = context.GetServerTrailingMetadata();
    const auto it = trailers.find(kRevisionMetadataKey);
    ASSERT_NE(it, trailers.end());
    EXPECT_EQ(std::string(it->second.data(), it->second.size()), "2");
  }
  EXPECT_EQ(core_.revision(), 2u);
}

INSTANTIATE_TEST_SUITE_P(
    AllCodes, ErrorCodeTest,
    ::testing::Values(
        CodeCase{ErrorCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
        CodeCase{ErrorCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
        CodeCase{ErrorCode::kNotFound, grpc::StatusCode::NOT_FOUND},
        CodeCase{ErrorCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
        CodeCase{ErrorCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
        CodeCase{ErrorCode::kInternal, grpc::StatusCode::INTERNAL},
        CodeCase{ErrorCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
        CodeCase{ErrorCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED}),
    [](const auto& info) { return code_name(info.param.code); });

// A stale expected_revision comes back as FAILED_PRECONDITION from the core.
TEST_F(ControlServiceTest, ExpectedRevisionMismatch) {
  add_both();
  v1::ApplyServiceRequest request;
  *request.mutable_service() = service_from_text(kWebService);
  request.set_expected_revision(1);
  v1::MutationResponse response;
  const grpc::Status status = apply(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "expected revision 1 but the current revision is 2");
  EXPECT_EQ(core_.revision(), 2u);
}

}  // namespace
}  // namespace sluice::control::api
