// Who may write: source-address allow-lists (CIDR, IPv4 and IPv6), constant-time secret
// comparison and token files. Header-only C++17, shared by the host's HTTP listener and by
// modules that run their own servers (the pinpoint gRPC server), so both read the same
// `allow_cidrs` and `auth_tokens` the same way.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace trib::access {

// One network: IPv4 addresses are kept as IPv4-mapped IPv6 (::ffff:a.b.c.d), so an IPv4
// client that reaches a dual-stack socket matches an IPv4 rule.
struct Cidr {
    std::array<uint8_t, 16> addr{};
    unsigned prefix = 128;
};

namespace detail {
inline bool parse_ip(std::string_view text, std::array<uint8_t, 16> &out, bool &v4) {
    std::string s(text);
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    in_addr a4{};
    if (::inet_pton(AF_INET, s.c_str(), &a4) == 1) {
        out.fill(0);
        out[10] = out[11] = 0xff;
        std::memcpy(out.data() + 12, &a4, 4);
        v4 = true;
        return true;
    }
    in6_addr a6{};
    if (::inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
        std::memcpy(out.data(), &a6, 16);
        v4 = false;
        return true;
    }
    return false;
}
} // namespace detail

// "10.0.0.0/8", "::1/128", "192.168.1.7" (a single host). Throws std::invalid_argument
// naming the text.
inline Cidr parse_cidr(std::string_view text) {
    std::string_view ip = text;
    long prefix = -1;
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
        ip = text.substr(0, slash);
        std::string p(text.substr(slash + 1));
        if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos)
            throw std::invalid_argument("'" + std::string(text) + "': bad prefix length");
        prefix = std::stol(p);
    }
    Cidr c;
    bool v4 = false;
    if (!detail::parse_ip(ip, c.addr, v4))
        throw std::invalid_argument("'" + std::string(text) + "': not an IPv4 or IPv6 address/prefix");
    long max = v4 ? 32 : 128;
    if (prefix < 0) prefix = max;
    if (prefix > max)
        throw std::invalid_argument("'" + std::string(text) + "': prefix longer than " + std::to_string(max));
    c.prefix = static_cast<unsigned>(v4 ? prefix + 96 : prefix);
    return c;
}

inline bool cidr_contains(const Cidr &c, const std::array<uint8_t, 16> &ip) {
    unsigned bits = c.prefix;
    for (size_t i = 0; i < 16 && bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
        uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
        if ((c.addr[i] & mask) != (ip[i] & mask)) return false;
    }
    return true;
}

// An empty list allows everyone.
class CidrList {
  public:
    CidrList() = default;
    // Throws std::invalid_argument naming the bad entry.
    explicit CidrList(const std::vector<std::string> &entries) {
        for (auto &e : entries) nets_.push_back(parse_cidr(e));
    }
    bool empty() const { return nets_.empty(); }
    // `ip` as text ("127.0.0.1", "::1", "[::1]", "::ffff:127.0.0.1"); an unparsable address
    // is outside every list.
    bool allows(std::string_view ip) const {
        if (nets_.empty()) return true;
        std::array<uint8_t, 16> a{};
        bool v4 = false;
        if (!detail::parse_ip(ip, a, v4)) return false;
        for (auto &n : nets_)
            if (cidr_contains(n, a)) return true;
        return false;
    }

  private:
    std::vector<Cidr> nets_;
};

// "127.0.0.1:5000" / "[::1]:5000" / "ipv4:127.0.0.1:5000" / "ipv6:[::1]:5000" (gRPC's
// peer()) -> the address part.
inline std::string host_of_peer(std::string_view peer) {
    if (peer.rfind("ipv4:", 0) == 0 || peer.rfind("ipv6:", 0) == 0) peer.remove_prefix(5);
    if (!peer.empty() && peer.front() == '[') {
        auto close = peer.find(']');
        return std::string(peer.substr(1, close == std::string_view::npos ? peer.size() - 1 : close - 1));
    }
    auto colon = peer.rfind(':');
    if (colon != std::string_view::npos && peer.find(':') == colon) peer = peer.substr(0, colon);
    return std::string(peer);
}

// Equal-length-independent comparison: the time depends on the lengths only, never on
// where the first difference is.
inline bool secret_equals(std::string_view a, std::string_view b) {
    size_t n = a.size() > b.size() ? a.size() : b.size();
    unsigned char diff = static_cast<unsigned char>(a.size() != b.size());
    for (size_t i = 0; i < n; ++i) {
        unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

// True when `candidate` equals one of `secrets`; every entry is compared (no early exit),
// so the answer's timing does not tell which one matched.
inline bool matches_any(const std::vector<std::string> &secrets, std::string_view candidate) {
    bool found = false;
    for (auto &s : secrets) found |= secret_equals(s, candidate);
    return found;
}

// One token a line; blank lines and lines starting with '#' are skipped, surrounding
// whitespace trimmed. Throws std::runtime_error naming the path (never its content).
inline std::vector<std::string> read_token_file(const std::string &path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot read token file " + path);
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
        size_t b = line.find_first_not_of(" \t\r");
        if (b == std::string::npos || line[b] == '#') continue;
        size_t e = line.find_last_not_of(" \t\r");
        out.push_back(line.substr(b, e - b + 1));
    }
    return out;
}

} // namespace trib::access
