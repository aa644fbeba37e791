// Who may write to a route: the per-input `auth_tokens` / `auth_tokens_file` and
// `allow_cidrs`, and `[http] admin_tokens` for /metrics and /-/ admin paths. The HTTP
// listener asks check_access() before it reads a request's body, for the policy of the
// instance that owns the route. Matching itself (CIDR, constant-time compare) is in the
// SDK's tributary/access.hpp, shared with modules that run their own servers.
#pragma once

#include <tributary/access.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace trib::core {

struct AccessPolicy {
    std::vector<std::string> tokens; // empty: no token needed
    access::CidrList allow;          // empty: every address
    bool empty() const { return tokens.empty() && allow.empty(); }
};

enum class AccessVerdict { allowed, unauthorized /* 401 */, forbidden /* 403 */ };

// Header lookup by (case-insensitive) name; empty when absent.
using HeaderFn = std::function<std::string(const char *name)>;

// A token is accepted from any of:
//   Authorization: Bearer <token>
//   Authorization: Basic base64(user:password)  — the password is the token, or the whole
//                                                  "user:password" is (either may match)
//   DD-API-KEY: <token>
// `remote_ip` is the client's address without port; empty for Unix-socket clients, whom
// the socket's file mode admits (allow_cidrs does not apply to them).
AccessVerdict check_access(const AccessPolicy &policy, const HeaderFn &header, const std::string &remote_ip);

} // namespace trib::core
