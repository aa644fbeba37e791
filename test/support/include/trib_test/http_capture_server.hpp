// A local HTTP server (Poco HTTPServer on a free loopback port) that records every request
// and answers with a scripted status sequence. Stopped by its destructor.
#pragma once

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace trib::test {

struct CapturedRequest {
    std::string method;
    std::string uri; // path?query
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string header(const std::string &name) const {
        for (auto &h : headers)
            if (Poco::icompare(h.first, name) == 0) return h.second;
        return {};
    }
    bool has_header(const std::string &name) const {
        for (auto &h : headers)
            if (Poco::icompare(h.first, name) == 0) return true;
        return false;
    }
    std::string path() const { return uri.substr(0, uri.find('?')); }
    std::string query() const {
        auto q = uri.find('?');
        return q == std::string::npos ? std::string() : uri.substr(q + 1);
    }
};

class CaptureServer {
  public:
    CaptureServer() : socket_(Poco::Net::SocketAddress("127.0.0.1", 0)) {
        auto *params = new Poco::Net::HTTPServerParams;
        params->setMaxThreads(4);
        params->setKeepAlive(true);
        server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(this), socket_, params);
        server_->start();
    }
    ~CaptureServer() { server_->stopAll(true); }

    uint16_t port() const { return socket_.address().port(); }
    std::string base() const { return "http://127.0.0.1:" + std::to_string(port()); }

    // Statuses for the next requests, in order; afterwards default_status.
    void script(std::vector<std::pair<int, std::string>> answers) {
        std::lock_guard<std::mutex> lk(mu_);
        for (auto &a : answers) script_.push_back(a);
    }
    void set_default(int status, std::string body = {}) {
        std::lock_guard<std::mutex> lk(mu_);
        default_ = {status, std::move(body)};
    }
    std::vector<CapturedRequest> requests() const {
        std::lock_guard<std::mutex> lk(mu_);
        return requests_;
    }
    void clear() {
        std::lock_guard<std::mutex> lk(mu_);
        requests_.clear();
    }

  private:
    struct Handler : Poco::Net::HTTPRequestHandler {
        CaptureServer *s;
        explicit Handler(CaptureServer *srv) : s(srv) {}
        void handleRequest(Poco::Net::HTTPServerRequest &req, Poco::Net::HTTPServerResponse &resp) override {
            CapturedRequest c;
            c.method = req.getMethod();
            c.uri = req.getURI();
            for (auto &h : req) c.headers.emplace_back(h.first, h.second);
            Poco::StreamCopier::copyToString(req.stream(), c.body);
            std::pair<int, std::string> answer;
            {
                std::lock_guard<std::mutex> lk(s->mu_);
                s->requests_.push_back(std::move(c));
                if (!s->script_.empty()) {
                    answer = s->script_.front();
                    s->script_.pop_front();
                } else {
                    answer = s->default_;
                }
            }
            resp.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(answer.first));
            resp.setContentType("application/json");
            resp.setContentLength(static_cast<std::streamsize>(answer.second.size()));
            resp.send() << answer.second;
        }
    };
    struct Factory : Poco::Net::HTTPRequestHandlerFactory {
        CaptureServer *s;
        explicit Factory(CaptureServer *srv) : s(srv) {}
        Poco::Net::HTTPRequestHandler *createRequestHandler(const Poco::Net::HTTPServerRequest &) override {
            return new Handler(s);
        }
    };

    Poco::Net::ServerSocket socket_;
    std::unique_ptr<Poco::Net::HTTPServer> server_;
    mutable std::mutex mu_;
    std::vector<CapturedRequest> requests_;
    std::deque<std::pair<int, std::string>> script_;
    std::pair<int, std::string> default_{200, ""};
};

} // namespace trib::test
