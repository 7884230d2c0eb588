// SPDX-License-Identifier: Apache-2.0
// Raw gRPC calls for tests, without generated stubs: byte buffers, one
// completion, and grpc.health.v1.Health/Check (Debian ships no generated
// health stub), whose request and response are a field or two of protobuf
// written and read by hand.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace sluice::control::test {

inline std::string bytes_of(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

inline grpc::ByteBuffer buffer_of(const std::string& bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

inline void await(grpc::CompletionQueue& cq, bool expect_ok = true) {
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(ok, expect_ok);
}

// HealthCheckResponse bytes: {status: SERVING} and {status: NOT_SERVING}.
inline const std::string kServing("\x08\x01", 2);
inline const std::string kNotServing("\x08\x02", 2);

// grpc.health.v1.Health/Check for `service` ("" = the server as a whole);
// *response_bytes receives the HealthCheckResponse when OK.
inline grpc::Status health_check(const std::shared_ptr<grpc::Channel>& channel,
                                 const std::string& service, std::string* response_bytes) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  // HealthCheckRequest{service = 1}: field 1, length-delimited.
  std::string request;
  if (!service.empty()) request = std::string("\x0a", 1) + char(service.size()) + service;
  auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", buffer_of(request),
                                    &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, nullptr);
  await(cq);
  if (status.ok()) *response_bytes = bytes_of(response);
  return status;
}

}  // namespace sluice::control::test
