// SPDX-License-Identifier: Apache-2.0
// Throwaway certificates for the TLS tests, made with the openssl command
// at test time in a temporary directory: a CA, a server certificate for
// 127.0.0.1 / localhost, and client certificates signed by the CA (or by a
// second CA the server does not trust).
#pragma once

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace sluice::control::api {

// Whether the openssl command is there (tests skip without it).
inline bool have_openssl() {
  return std::system("openssl version >/dev/null 2>&1") == 0;
}

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class TestCertificates {
 public:
  // Files go to `dir` (which must exist). ok() says whether openssl worked.
  explicit TestCertificates(std::string dir) : dir_(std::move(dir)) {
    ok_ = make_ca("ca", "sluice-test-ca") && make_ca("other-ca", "someone-else") &&
          make_leaf("server", "ca", "/CN=sluiced", "subjectAltName=IP:127.0.0.1,DNS:localhost") &&
          make_leaf("rollouts", "ca", "/CN=rollouts", "") &&
          make_leaf("viewer", "ca", "/CN=viewer", "") &&
          make_leaf("stranger", "ca", "/CN=stranger", "") &&
          make_leaf("deployer", "ca", "/CN=deployer-7",
                    "subjectAltName=URI:spiffe://fleet/deployer,DNS:Deploy.Example.COM") &&
          make_leaf("impostor", "other-ca", "/CN=rollouts", "");
  }

  bool ok() const { return ok_; }
  // dir/NAME.pem and dir/NAME.key.
  std::string cert_path(const std::string& name) const { return dir_ + "/" + name + ".pem"; }
  std::string key_path(const std::string& name) const { return dir_ + "/" + name + ".key"; }
  std::string cert(const std::string& name) const { return read_text_file(cert_path(name)); }
  std::string key(const std::string& name) const { return read_text_file(key_path(name)); }

 private:
  bool run(const std::string& command) {
    return std::system((command + " >>" + dir_ + "/openssl.log 2>&1").c_str()) == 0;
  }
  static std::string new_key_args() {
    return "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  }
  bool make_ca(const std::string& name, const std::string& cn) {
    return run("openssl req -x509 " + new_key_args() + " -days 2 -subj /CN=" + cn +
               " -keyout " + key_path(name) + " -out " + cert_path(name));
  }
  bool make_leaf(const std::string& name, const std::string& ca, const std::string& subject,
                 const std::string& extension) {
    const std::string csr = dir_ + "/" + name + ".csr";
    const std::string ext = dir_ + "/" + name + ".ext";
    std::ofstream(ext) << extension << "\n";
    return run("openssl req " + new_key_args() + " -subj " + subject + " -keyout " +
               key_path(name) + " -out " + csr) &&
           run("openssl x509 -req -days 2 -in " + csr + " -CA " + cert_path(ca) + " -CAkey " +
               key_path(ca) + " -set_serial " + std::to_string(++serial_) + " -out " +
               cert_path(name) + (extension.empty() ? "" : " -extfile " + ext));
  }

  std::string dir_;
  bool ok_ = false;
  int serial_ = 1000;
};

}  // namespace sluice::control::api
