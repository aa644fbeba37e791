// InfluxDB line protocol, the text form of a point (as DataKit uses it): written by core's
// sinks and the nats sink, read back by the nats input.
// measurement[,tag=v...] field=v[,field=v...] time_ns
// Escaping: measurement: comma and space; tag keys/values and field keys: comma, equals
// sign, space (LF, CR and NUL become an escaped space; backslashes right before an escaped
// character or the token's end are doubled); string field values: double quote and
// backslash, LF/CR/NUL as the two-character escapes \n \r \0, so no client string can end
// the line. A measurement starting with '#' gets a backslash (not a comment). Ints end in `i`, uints
// in `u`, floats print shortest round-trip, bools `true`/`false`, bytes as a base64
// string. Attachments are not part of the line.
#pragma once

#include <tributary/plugin.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace trib::line_protocol {

// Appends one line (with trailing '\n') to out. Fields with no representable value and
// points with no fields are skipped (returns false).
bool append_line(std::string &out, const trib::Point &point);
std::string to_line(const trib::Point &point);

// Parses lines written by append_line back into points of `category` (bytes fields come
// back as the base64 string they were written as). Throws std::runtime_error naming the
// line on malformed input.
std::vector<trib::Point> parse_lines(std::string_view text, const std::string &category);

} // namespace trib::line_protocol
