// The listener's TLS: an OpenSSL server context built from [http] tls_* files, swapped
// whole by reload() (new connections get the new certificate, open ones keep theirs: an
// SSL object holds a reference to its context), and the per-connection state the front
// drives without blocking.
//
// OpenSSL directly rather than Poco NetSSL: the front parks connections in epoll with no
// thread, so the handshake must advance one readable event at a time (SSL_accept on a
// non-blocking socket); Poco's SecureStreamSocket handshakes in a blocking call on the
// thread that owns the socket, which would give every slow TLS client a thread.
#pragma once

#include "config/config.hpp"

#include <memory>
#include <mutex>
#include <string>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace trib::core {

class TlsServerContext {
  public:
    // Throws std::runtime_error naming the file and OpenSSL's reason.
    explicit TlsServerContext(const HttpTlsConfig &cfg);
    ~TlsServerContext();

    // Re-reads the files named in `cfg`; on failure keeps the current context and returns
    // false with `err`.
    bool reload(const HttpTlsConfig &cfg, std::string &err);
    // A server SSL object for `fd` on the current context; null on allocation failure.
    SSL *new_connection(int fd) const;

  private:
    mutable std::mutex mu_;
    SSL_CTX *ctx_ = nullptr;
};

// A connection past its handshake (or during it, in the front): the SSL object and the
// plaintext the front has already read while waiting for the request header.
struct TlsConnection {
    explicit TlsConnection(SSL *s) : ssl(s) {}
    ~TlsConnection();
    TlsConnection(const TlsConnection &) = delete;
    TlsConnection &operator=(const TlsConnection &) = delete;

    enum class Step { done, want_read, want_write, failed };
    // Advances the handshake on a non-blocking socket.
    Step handshake();
    // Reads what is available (non-blocking) into `early`, at most up to `cap` bytes.
    // want_read: nothing more for now; done: `cap` reached; failed: closed or broken.
    Step read_available(size_t cap);

    SSL *ssl;
    bool handshake_done = false;
    std::string early;
};

} // namespace trib::core
