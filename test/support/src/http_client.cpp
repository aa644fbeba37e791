#include <trib_test/support.hpp>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Exception.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <algorithm>
#include <cctype>
#include <exception>

namespace trib::test {

HttpResult http(const std::string &method, const std::string &url, const std::string &body,
                const std::string &content_type, const std::map<std::string, std::string> &headers, int timeout_ms) {
    HttpResult result;
    try {
        Poco::URI uri(url);
        Poco::Net::HTTPClientSession session(uri.getHost(), uri.getPort());
        session.setTimeout(Poco::Timespan(static_cast<long>(timeout_ms) * 1000));
        std::string target = uri.getPathEtc();
        if (target.empty()) target = "/";
        Poco::Net::HTTPRequest req(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
        if (!content_type.empty()) req.setContentType(content_type);
        for (auto &h : headers) req.set(h.first, h.second);
        bool has_body = !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
        if (has_body && !req.has("Transfer-Encoding")) req.setContentLength(static_cast<std::streamsize>(body.size()));
        std::ostream &os = session.sendRequest(req);
        if (!body.empty()) os.write(body.data(), static_cast<std::streamsize>(body.size()));
        Poco::Net::HTTPResponse resp;
        std::istream &is = session.receiveResponse(resp);
        result.status = static_cast<int>(resp.getStatus());
        for (auto &h : resp) {
            std::string name = h.first;
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            result.headers[name] = h.second;
        }
        Poco::StreamCopier::copyToString(is, result.body);
    } catch (const Poco::Exception &e) {
        result.status = 0;
        result.body = e.displayText();
    } catch (const std::exception &e) {
        result.status = 0;
        result.body = e.what();
    }
    return result;
}

} // namespace trib::test
