// Deterministic language detection for profile uploads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace trib::profiling {

// The first candidate (in order, empty ones skipped) that names a known language wins.
// A candidate matches exactly first (e.g. "go", "js", "node"), then by the longest known
// name it contains, so "javascript" is nodejs, never java. Result: nodejs, java, python,
// golang, dotnet, php, ruby, rust, cpp, or "unknown".
std::string detect_language(const std::vector<std::string_view> &candidates);

// Pyroscope spyName → language: gospy golang, javaspy java, nodespy nodejs, pyspy python,
// rbspy ruby, dotnetspy dotnet, phpspy php, ebpfspy ebpf, pyroscope-rs rust; otherwise
// detect_language of the name.
std::string language_from_spy(std::string_view spy_name);

} // namespace trib::profiling
