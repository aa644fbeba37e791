#include "tls_server.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <stdexcept>

namespace trib::core {

namespace {

std::string openssl_reason() {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e) return "unknown error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

SSL_CTX *build_context(const HttpTlsConfig &cfg) {
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) throw std::runtime_error("TLS: cannot create a context: " + openssl_reason());
    auto fail = [&](const std::string &what) {
        std::string msg = "TLS: " + what + ": " + openssl_reason();
        SSL_CTX_free(ctx);
        throw std::runtime_error(msg);
    };
    SSL_CTX_set_min_proto_version(ctx, cfg.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // No partial writes: Poco's stream buffers treat a short send as an error, and on the
    // workers' blocking sockets SSL_write then sends all or fails.
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert.c_str()) != 1)
        fail("[http] tls_cert '" + cfg.cert + "' not usable");
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg.key.c_str(), SSL_FILETYPE_PEM) != 1)
        fail("[http] tls_key '" + cfg.key + "' not usable");
    if (SSL_CTX_check_private_key(ctx) != 1) fail("[http] tls_key '" + cfg.key + "' does not match tls_cert");
    if (!cfg.client_ca.empty()) {
        if (SSL_CTX_load_verify_locations(ctx, cfg.client_ca.c_str(), nullptr) != 1)
            fail("[http] tls_client_ca '" + cfg.client_ca + "' not usable");
        if (STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg.client_ca.c_str()))
            SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    return ctx;
}

} // namespace

TlsServerContext::TlsServerContext(const HttpTlsConfig &cfg) : ctx_(build_context(cfg)) {}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

bool TlsServerContext::reload(const HttpTlsConfig &cfg, std::string &err) {
    SSL_CTX *fresh = nullptr;
    try {
        fresh = build_context(cfg);
    } catch (const std::exception &e) {
        err = e.what();
        return false;
    }
    SSL_CTX *old;
    {
        std::lock_guard<std::mutex> lk(mu_);
        old = ctx_;
        ctx_ = fresh;
    }
    SSL_CTX_free(old); // open connections hold their own reference
    return true;
}

SSL *TlsServerContext::new_connection(int fd) const {
    std::lock_guard<std::mutex> lk(mu_);
    SSL *ssl = SSL_new(ctx_);
    if (!ssl) return nullptr;
    SSL_set_fd(ssl, fd);
    SSL_set_accept_state(ssl);
    return ssl;
}

TlsConnection::~TlsConnection() { SSL_free(ssl); }

TlsConnection::Step TlsConnection::handshake() {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) {
        handshake_done = true;
        return Step::done;
    }
    int e = SSL_get_error(ssl, rc);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ) return Step::want_read;
    if (e == SSL_ERROR_WANT_WRITE) return Step::want_write;
    return Step::failed;
}

TlsConnection::Step TlsConnection::read_available(size_t cap) {
    char buf[16384];
    while (early.size() < cap) {
        ERR_clear_error();
        size_t want = std::min(sizeof buf, cap - early.size());
        int n = SSL_read(ssl, buf, static_cast<int>(want));
        if (n > 0) {
            early.append(buf, static_cast<size_t>(n));
            continue;
        }
        int e = SSL_get_error(ssl, n);
        ERR_clear_error();
        if (e == SSL_ERROR_WANT_READ) return Step::want_read;
        if (e == SSL_ERROR_WANT_WRITE) return Step::want_write;
        return Step::failed;
    }
    return Step::done;
}

} // namespace trib::core
