// The text DataKit gets from Go's `String()` on a protobuf message (protobuf-go's single-line
// text format), for the tags whose DataKit value is that text: `http_url` and
// `http_status_code` carry e.g. `stringValue:"127.0.0.1:8080/down"` and `intValue:200`
// (shared/spec/pinpoint.md §5.5).
//
// Rules followed: fields in declaration order, `name:value` pairs separated by one space,
// nested messages as `name:{...}`, proto3 scalars only when not zero (oneof members and
// messages when set), strings and bytes quoted with Go's escapes, doubles as Go's
// strconv 'g' with the shortest digits. Go adds a second space between fields at random per
// build; a value with a single field (every annotation value of HTTP calls) has no
// separator, so it matches byte for byte.
#pragma once

#include <string>

#include <google/protobuf/message.h>

namespace trib::pinpoint {

std::string go_proto_text(const google::protobuf::Message &m);

} // namespace trib::pinpoint
