// Stall report JSON pieces: see stall_report_json.h.
#include "stall_report_json.h"

#include <sys/time.h>
#include <time.h>

#include <cstdio>

#include "../json_text.h"

namespace uvscope {

void AppendFrame(std::string& out, const CapturedFrame& frame) {
  out += "{\"functionName\":";
  AppendJsonString(out, frame.functionName);
  out += ",\"url\":";
  AppendJsonString(out, frame.url);
  out += ",\"line\":" + std::to_string(frame.line) + ",\"column\":" + std::to_string(frame.column) + "}";
}

void AppendFrames(std::string& out, const std::vector<CapturedFrame>& frames, size_t count) {
  out += '[';
  for (size_t i = 0; i < frames.size() && i < count; i++) {
    if (i) out += ',';
    AppendFrame(out, frames[i]);
  }
  out += ']';
}

std::string Shortened(const std::string& text, size_t maxBytes) {
  if (text.size() <= maxBytes) return text;
  size_t end = maxBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) end--;
  return text.substr(0, end);
}

void AppendReportFields(std::string& out, const StallReport& report, const Shortening& cut) {
  out += "\"atNs\":\"" + std::to_string(report.atNs) + "\",\"elapsedNs\":" + std::to_string(report.elapsedNs) +
         ",\"phase\":\"" + PhaseName(report.phase) + "\",\"iteration\":" + std::to_string(report.iteration);
  if (report.hasCpu) out += ",\"cpuNs\":" + std::to_string(report.cpuNs);
  if (report.hasStack) {
    out += ",\"stackCaptureNs\":" + std::to_string(report.stackCaptureNs) + ",\"stack\":";
    AppendFrames(out, report.stack, cut.frames);
    if (cut.frames < report.stack.size()) out += ",\"framesOmitted\":" + std::to_string(report.stack.size() - cut.frames);
  }
  AppendAttribution(out, report.attribution);
  if (report.inNative) out += ",\"inNative\":true";
  if (!report.stackUnavailable.empty()) {
    out += ",\"stackUnavailable\":";
    AppendJsonString(out, Shortened(report.stackUnavailable, cut.textBytes));
  }
}

std::string WallClockIso() {
  struct timeval now;
  gettimeofday(&now, nullptr);
  struct tm utc;
  gmtime_r(&now.tv_sec, &utc);
  char text[40];
  size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(now.tv_usec / 1000));
  return text;
}

}  // namespace uvscope
