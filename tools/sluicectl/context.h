// SPDX-License-Identifier: Apache-2.0
// What every sluicectl command gets: the global options, where to print,
// and the connection to sluiced.
#pragma once

#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>

#include "sluice/v1/control.grpc.pb.h"

namespace sluice::sluicectl {

// Exit statuses, the same for every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // sluiced refused or could not be reached; a bad file
inline constexpr int kExitUsage = 2;   // the command line is wrong (help goes to stderr)
// `drain status`: the target is not (yet) safe to remove, so that a script
// can tell "wait longer" from an error.
inline constexpr int kExitNotDrained = 3;

enum class Output { kTable, kJson };

// A wrong command line found after option parsing (a malformed POOL=WEIGHT,
// a missing argument): the dispatcher prints it with the command's help and
// exits kExitUsage.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where sluiced is and how to talk to it: the unix socket, or TCP with TLS
// (the PEM contents, read by the dispatcher), or plain TCP (--insecure).
struct Connection {
  std::string socket_path;  // used when address is empty
  std::string address;      // HOST:PORT
  bool insecure = false;    // TCP without TLS
  std::string tls_ca;       // CA that signed sluiced's certificate
  std::string tls_cert;     // our client certificate
  std::string tls_key;      // its key

  // "/run/sluice/sluiced.sock", "127.0.0.1:7443 (TLS)", "127.0.0.1:7443 (insecure)".
  std::string describe() const;
};

class Context {
 public:
  Context(Connection connection, Output output, std::ostream& out, std::ostream& err)
      : connection_(std::move(connection)), output_(output), out_(out), err_(err) {}

  const Connection& connection() const { return connection_; }
  Output output() const { return output_; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }
  // Made on first use; creating it does not connect yet.
  v1::Control::Stub& stub();

 private:
  Connection connection_;
  Output output_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<v1::Control::Stub> stub_;
};

}  // namespace sluice::sluicectl
