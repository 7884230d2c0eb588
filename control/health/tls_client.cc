// SPDX-License-Identifier: Apache-2.0
#include "control/health/tls_client.h"

#include <arpa/inet.h>
#include <openssl/err.h>

#include <stdexcept>

namespace sluice::control::health {
namespace {

// "host", "host:443", "[2001:db8::1]:443" -> the host part.
std::string host_part(const std::string& name) {
  if (!name.empty() && name[0] == '[') return name.substr(1, name.find(']') - 1);
  const size_t colon = name.find(':');
  // More than one colon: a bare IPv6 literal.
  if (colon != std::string::npos && name.find(':', colon + 1) == std::string::npos) {
    return name.substr(0, colon);
  }
  return name;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

TlsClient::TlsClient() {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) throw std::runtime_error("SSL_CTX_new: " + tls_error_reason("failed"));
  // No verification: see the header.
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  // A backend closing without close_notify after its response is common;
  // only the status line matters, so read that as a plain end of stream.
  SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Writes may complete partially on a non-blocking socket.
  SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Resumption: OpenSSL hands each new session (a TLS 1.3 ticket arrives
  // with the response) to on_new_session, which keeps it per backend.
  SSL_CTX_set_app_data(ctx_, this);
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx_, &TlsClient::on_new_session);
}

TlsClient::~TlsClient() {
  for (auto& [backend, session] : sessions_) SSL_SESSION_free(session);
  SSL_CTX_free(ctx_);
}

SSL* TlsClient::new_session(int fd, const std::string& server_name, const std::string& backend) {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return nullptr;
  const std::string host = host_part(server_name);
  if (SSL_set_fd(ssl, fd) != 1 ||
      (!host.empty() && !is_ip_literal(host) && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1)) {
    SSL_free(ssl);
    return nullptr;
  }
  // on_new_session learns whose session it got from the SSL.
  SSL_set_app_data(ssl, const_cast<std::string*>(&backend));
  auto it = sessions_.find(backend);
  // A session the server no longer takes costs nothing but a full handshake.
  if (it != sessions_.end()) SSL_set_session(ssl, it->second);
  SSL_set_connect_state(ssl);
  return ssl;
}

int TlsClient::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<TlsClient*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const auto* backend = static_cast<const std::string*>(SSL_get_app_data(ssl));
  if (!self || !backend) return 0;
  if (self->sessions_.size() >= kMaxSessions && !self->sessions_.count(*backend)) {
    for (auto& [b, s] : self->sessions_) SSL_SESSION_free(s);
    self->sessions_.clear();
  }
  SSL_SESSION*& slot = self->sessions_[*backend];
  if (slot) SSL_SESSION_free(slot);
  slot = session;
  return 1;  // ours now
}

std::string tls_error_reason(const char* fallback) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return fallback;
  const char* reason = ERR_reason_error_string(code);
  return reason ? reason : fallback;
}

}  // namespace sluice::control::health
