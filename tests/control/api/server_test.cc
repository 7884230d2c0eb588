// SPDX-License-Identifier: Apache-2.0
// start_control_server on real unix sockets in a temporary directory: the
// Control service served, the socket's mode, stale and live socket files,
// bad paths, and the health and reflection services beside it.
#include "control/api/server.h"

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/control/api/health_check.h"
#include "tests/control/api/hold_grpc.h"
#include "tests/mocks/control/fake_control_core.h"

namespace sluice::control::api {
namespace {

using ::testing::HasSubstr;

// A unix socket bound at `path`; with listen, something is listening there.
int bound_socket(const std::string& path, bool listen) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0) << std::strerror(errno);
  if (listen) {
    EXPECT_EQ(::listen(fd, 1), 0);
  }
  return fd;
}

using test::await;
using test::buffer_of;
using test::bytes_of;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/sluice-api-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/sluiced.sock";
    options_.unix_socket_path = path_;
  }
  void TearDown() override {
    for (auto& s : servers_) s->Shutdown();
    for (int fd : fds_) ::close(fd);
    std::filesystem::remove_all(dir_);
  }

  grpc::Server* start(std::string* error_out = nullptr) {
    std::string error;
    auto server = start_control_server(service_, options_, &error);
    if (error_out) *error_out = error;
    if (!server) return nullptr;
    EXPECT_TRUE(error.empty()) << error;
    servers_.push_back(std::move(server));
    return servers_.back().get();
  }
  std::shared_ptr<grpc::Channel> channel() {
    return grpc::CreateChannel("unix:" + path_, grpc::InsecureChannelCredentials());
  }
  // GetStatus through the socket; OK when something serves Control there.
  grpc::Status get_status(v1::GetStatusResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return v1::Control::NewStub(channel())->GetStatus(&context, v1::GetStatusRequest(), response);
  }
  // grpc.health.v1.Health/Check for `service` ("" = the server as a whole).
  grpc::Status health_check(const std::string& service, std::string* response_bytes) {
    return test::health_check(channel(), service, response_bytes);
  }

  fakes::FakeControlCore core_;
  ControlServiceImpl service_{core_};
  ServerOptions options_;
  std::string dir_;
  std::string path_;
  std::vector<std::unique_ptr<grpc::Server>> servers_;
  std::vector<int> fds_;
};

// The Control service answers through the socket, and the core sees the caller.
TEST_F(ServerTest, ServesControlOnTheSocket) {
  ASSERT_NE(start(), nullptr);
  core_.set_status(fakes::status_of("dpdk", {0}, 0, 7, "0.1.0"));
  v1::GetStatusResponse response;
  ASSERT_TRUE(get_status(&response).ok());
  EXPECT_EQ(response.dataplane(), "dpdk");
  EXPECT_EQ(response.uptime_ms(), 7u);

  grpc::ClientContext context;
  v1::DeleteServiceRequest request;
  request.set_name("web");
  v1::MutationResponse mutation;
  const grpc::Status status =
      v1::Control::NewStub(channel())->DeleteService(&context, request, &mutation);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_EQ(core_.calls().size(), 1u);
  EXPECT_THAT(core_.calls()[0].caller.peer, HasSubstr("unix:"));
}

// The socket is 0660 whatever the umask was.
TEST_F(ServerTest, SocketModeIs0660) {
  const mode_t old_umask = ::umask(0);
  grpc::Server* server = start();
  ::umask(old_umask);
  ASSERT_NE(server, nullptr);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

// ServerOptions can ask for another mode.
TEST_F(ServerTest, SocketModeFromOptions) {
  options_.unix_socket_mode = 0600;
  ASSERT_NE(start(), nullptr);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

// A socket file nobody listens on (a crashed sluiced) is replaced.
TEST_F(ServerTest, StaleSocketReplaced) {
  ::close(bound_socket(path_, false));  // the file stays, nobody listens
  ASSERT_TRUE(std::filesystem::is_socket(path_));
  std::string error;
  ASSERT_NE(start(&error), nullptr) << error;
  v1::GetStatusResponse response;
  EXPECT_TRUE(get_status(&response).ok());
}

// A socket something listens on is left alone: the start fails and says why.
TEST_F(ServerTest, LiveSocketRefused) {
  const int fd = bound_socket(path_, true);
  fds_.push_back(fd);
  std::string error;
  EXPECT_EQ(start(&error), nullptr);
  EXPECT_EQ(error, path_ +
                       ": another process is listening on this socket (is sluiced already "
                       "running?)");
  // Still the other process's socket: a connection reaches its listener.
  const int client = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path_.c_str(), sizeof(a.sun_path) - 1);
  EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ::close(client);
}

// A second server on the path of a running one is refused; the first keeps serving.
TEST_F(ServerTest, SecondServerRefused) {
  ASSERT_NE(start(), nullptr);
  std::string error;
  EXPECT_EQ(start(&error), nullptr);
  EXPECT_THAT(error, HasSubstr("another process is listening"));
  v1::GetStatusResponse response;
  EXPECT_TRUE(get_status(&response).ok());
}

// A file that is not a socket is never removed.
TEST_F(ServerTest, RegularFileNotReplaced) {
  std::ofstream(path_) << "precious";
  std::string error;
  EXPECT_EQ(start(&error), nullptr);
  EXPECT_EQ(error, path_ + " exists and is not a socket; not replacing it");
  std::ifstream in(path_);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

// A missing directory is named.
TEST_F(ServerTest, MissingDirectory) {
  options_.unix_socket_path = dir_ + "/no/such/dir/sluiced.sock";
  std::string error;
  EXPECT_EQ(start(&error), nullptr);
  EXPECT_EQ(error, options_.unix_socket_path + ": the directory " + dir_ +
                       "/no/such/dir does not exist");
}

// A path longer than sun_path can hold is refused before gRPC truncates it.
TEST_F(ServerTest, PathTooLong) {
  options_.unix_socket_path = dir_ + "/" + std::string(120, 's');
  std::string error;
  EXPECT_EQ(start(&error), nullptr);
  EXPECT_EQ(error, options_.unix_socket_path + ": a unix socket path can have at most 107 bytes");
}

// No path at all is an error, not a server without listeners.
TEST_F(ServerTest, EmptyPath) {
  options_.unix_socket_path.clear();
  std::string error;
  EXPECT_EQ(start(&error), nullptr);
  EXPECT_EQ(error, "no unix socket path given");
}

// grpc.health.v1: the server and sluice.v1.Control are SERVING; others unknown.
TEST_F(ServerTest, HealthService) {
  ASSERT_NE(start(), nullptr);
  const std::string& serving = test::kServing;
  std::string response;
  ASSERT_TRUE(health_check("", &response).ok());
  EXPECT_EQ(response, serving);
  response.clear();
  ASSERT_TRUE(health_check("sluice.v1.Control", &response).ok());
  EXPECT_EQ(response, serving);
  EXPECT_EQ(health_check("sluice.v1.Nothing", &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// set_serving(false) turns both to NOT_SERVING (a dataplane fault, or one
// behind the desired revision), set_serving(true) back to SERVING.
TEST_F(ServerTest, HealthFollowsSetServing) {
  grpc::Server* server = start();
  ASSERT_NE(server, nullptr);
  const std::string& serving = test::kServing;
  const std::string& not_serving = test::kNotServing;
  set_serving(*server, false);
  for (const char* name : {"", "sluice.v1.Control"}) {
    std::string response;
    ASSERT_TRUE(health_check(name, &response).ok());
    EXPECT_EQ(response, not_serving) << "service \"" << name << "\"";
  }
  set_serving(*server, true);
  for (const char* name : {"", "sluice.v1.Control"}) {
    std::string response;
    ASSERT_TRUE(health_check(name, &response).ok());
    EXPECT_EQ(response, serving) << "service \"" << name << "\"";
  }
}

// Server reflection lists the Control service (grpcurl and grpc_cli rely on it).
TEST_F(ServerTest, ReflectionListsControl) {
  ASSERT_NE(start(), nullptr);
  grpc::GenericStub stub(channel());
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  stream->StartCall(nullptr);
  await(cq);
  // ServerReflectionRequest{list_services = 7: ""}.
  stream->Write(buffer_of(std::string("\x3a\x00", 2)), nullptr);
  await(cq);
  stream->WritesDone(nullptr);
  await(cq);
  grpc::ByteBuffer response;
  stream->Read(&response, nullptr);
  await(cq);
  EXPECT_THAT(bytes_of(response), HasSubstr("sluice.v1.Control"));
  EXPECT_THAT(bytes_of(response), HasSubstr("grpc.health.v1.Health"));
  grpc::Status status;
  stream->Finish(&status, nullptr);
  await(cq);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

}  // namespace
}  // namespace sluice::control::api
