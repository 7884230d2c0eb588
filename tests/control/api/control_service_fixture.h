// SPDX-License-Identifier: Apache-2.0
// The fixture of control_service_test.cc and control_service_refusals_test.cc:
// ControlServiceImpl over the fake core, served in process.
#pragma once

#include "control/api/control_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>

#include <thread>

#include "control/api/event_messages.h"
#include "control/config/service_mapping.h"
#include "control/api/mutation_options.h"
#include "tests/control/api/hold_grpc.h"
#include "tests/control/api/test_services.h"
#include "tests/control/api/test_stats.h"
#include "tests/mocks/control/fake_control_core.h"

namespace sluice::control::api {

class ControlServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Control::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override { server_->Shutdown(); }

  // The core holds web (revision 1) and dns (revision 2).
  void add_both() {
    for (const char* text : {kWebService, kDnsService}) {
      v1::ServiceList list;
      *list.add_services() = service_from_text(text);
      core_.add_service(config::services_from_proto(list).services.at(0));
    }
  }

  grpc::Status apply(const v1::ApplyServiceRequest& request, v1::MutationResponse* response) {
    grpc::ClientContext context;
    return stub_->ApplyService(&context, request, response);
  }
  // The status of ApplyService for this service, which must be refused.
  grpc::Status apply_refused(const v1::Service& service) {
    v1::ApplyServiceRequest request;
    *request.mutable_service() = service;
    v1::MutationResponse response;
    return apply(request, &response);
  }

  fakes::FakeControlCore core_;
  ControlServiceImpl service_{core_};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Control::Stub> stub_;
};

}  // namespace sluice::control::api
