// The host's log: one line per message on stderr, "<time> <LEVEL> [<source>] <message>".
#pragma once

#include <tributary/plugin.h>

#include <string>
#include <string_view>

namespace trib::core {

void log_message(trib_log_level level, std::string_view source, std::string_view message);
// Messages below this level are not written (default INFO; TRIBUTARY_LOG_LEVEL=debug).
void set_log_level(trib_log_level level);
trib_log_level log_level_from_name(std::string_view name, trib_log_level fallback);
bool log_level_known(std::string_view name);

inline void log_info(std::string_view src, std::string_view msg) { log_message(TRIB_LOG_INFO, src, msg); }
inline void log_warn(std::string_view src, std::string_view msg) { log_message(TRIB_LOG_WARN, src, msg); }
inline void log_error(std::string_view src, std::string_view msg) { log_message(TRIB_LOG_ERROR, src, msg); }
inline void log_debug(std::string_view src, std::string_view msg) { log_message(TRIB_LOG_DEBUG, src, msg); }

} // namespace trib::core
