#include "access_control.hpp"

#include <Poco/Base64Decoder.h>

#include <sstream>

namespace trib::core {

namespace {

bool starts_with_ci(const std::string &s, const char *prefix) {
    size_t n = std::char_traits<char>::length(prefix);
    if (s.size() < n) return false;
    for (size_t i = 0; i < n; ++i)
        if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
            return false;
    return true;
}

std::string trim(const std::string &s) {
    size_t b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return {};
    size_t e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

std::string base64_decode(const std::string &text) {
    try {
        std::istringstream in(text);
        Poco::Base64Decoder dec(in);
        std::string out((std::istreambuf_iterator<char>(dec)), std::istreambuf_iterator<char>());
        return out;
    } catch (...) {
        return {}; // malformed: matches nothing
    }
}

bool token_presented(const std::vector<std::string> &tokens, const HeaderFn &header) {
    bool ok = false;
    std::string auth = trim(header("Authorization"));
    if (starts_with_ci(auth, "Bearer ")) {
        ok |= access::matches_any(tokens, trim(auth.substr(7)));
    } else if (starts_with_ci(auth, "Basic ")) {
        std::string pair = base64_decode(trim(auth.substr(6)));
        size_t colon = pair.find(':');
        if (colon != std::string::npos) ok |= access::matches_any(tokens, pair.substr(colon + 1));
        ok |= access::matches_any(tokens, pair);
    }
    std::string dd = trim(header("DD-API-KEY"));
    if (!dd.empty()) ok |= access::matches_any(tokens, dd);
    return ok;
}

} // namespace

AccessVerdict check_access(const AccessPolicy &policy, const HeaderFn &header, const std::string &remote_ip) {
    if (!remote_ip.empty() && !policy.allow.allows(remote_ip)) return AccessVerdict::forbidden;
    if (!policy.tokens.empty() && !token_presented(policy.tokens, header)) return AccessVerdict::unauthorized;
    return AccessVerdict::allowed;
}

} // namespace trib::core
