// A multipart/form-data body (RFC 7578) built part by part: the dataway sink's profiling
// upload, the pyroscope sink's ingest, and the tests' and benches' client uploads.
#pragma once

#include <string>
#include <string_view>

namespace trib::multipart {

class Writer {
  public:
    // An empty boundary picks a random one ("trib-" and 30 letters and digits).
    explicit Writer(std::string boundary = {});
    void add_field(std::string_view name, std::string_view value);
    // An empty content_type writes the part without a Content-Type header.
    void add_file(std::string_view name, std::string_view filename, std::string_view content_type,
                  std::string_view data);
    // Appends the closing delimiter and hands the body over (the writer is spent).
    std::string finish();
    const std::string &boundary() const { return boundary_; }
    std::string content_type() const { return "multipart/form-data; boundary=" + boundary_; }

  private:
    std::string boundary_;
    std::string out_;
};

} // namespace trib::multipart
