// Pinpoint's service-type codes and annotation keys, as DataKit names them
// (shared/spec/pinpoint.md §7).
#pragma once

#include <cstdint>
#include <string_view>

namespace trib::pinpoint {

// The service-type name of a code; "Unknown" for codes outside the table.
std::string_view service_type_name(int32_t code);

// The annotation name of a key (e.g. 40 -> "http.url"); empty for unknown keys.
std::string_view annotation_name(int32_t key);

// Annotation keys the converter reads.
inline constexpr int32_t kAnnotationApi = 12;
inline constexpr int32_t kAnnotationSqlId = 20;
inline constexpr int32_t kAnnotationSql = 21;
inline constexpr int32_t kAnnotationHttpUrl = 40;
inline constexpr int32_t kAnnotationHttpStatusCode = 46;
inline constexpr int32_t kAnnotationException = -50;

} // namespace trib::pinpoint
