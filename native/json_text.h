// JSON text building shared by both addons (report lines of the Node-API addon, the context
// fields of the stack addon): a string value with JSON's escapes. Header-only; no state.
#pragma once
#include <cstdio>
#include <string>

namespace uvscope {

inline void AppendJsonString(std::string& out, const std::string& value) {
  out += '"';
  for (unsigned char c : value) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

}  // namespace uvscope
