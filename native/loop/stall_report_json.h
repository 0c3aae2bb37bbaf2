// The pieces of a stall report line that are plain JSON text: frames, a report's own fields, a
// wall-clock time. Used by the watchdog thread as it writes report lines and by the loop thread
// as it builds a stall's JSON for the 'stall' event (stall_watchdog.cc). Pure functions.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "stall_watchdog.h"

namespace uvscope {

// How a report is shortened to fit a line: frames kept, and the stackUnavailable text's bound.
struct Shortening {
  size_t frames = SIZE_MAX;
  size_t textBytes = SIZE_MAX;
};

void AppendFrame(std::string& out, const CapturedFrame& frame);
// The first `count` frames (all by default), as a JSON array.
void AppendFrames(std::string& out, const std::vector<CapturedFrame>& frames, size_t count = SIZE_MAX);
// `text` cut to at most `maxBytes` without splitting a UTF-8 sequence.
std::string Shortened(const std::string& text, size_t maxBytes);
// The report's own fields, without braces.
void AppendReportFields(std::string& out, const StallReport& report, const Shortening& cut = Shortening());
// Now, as `2026-12-06T01:02:03.456Z`.
std::string WallClockIso();

}  // namespace uvscope
