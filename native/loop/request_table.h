// The HTTP requests in flight on one environment's thread, kept where the stall watchdog can
// name the request a stall happened in without running JavaScript. The TypeScript request
// tracker (src/loop/http-requests.ts) adds a request when the server starts it (with the async
// id it started in) and removes it when its response closes; the stack addon's interrupt says
// which request id and async ids the blocked thread was running in; Attribute() turns that into
// the request.
//
// Threads: Start/Finish on the environment's thread, Attribute on that thread too (inside the
// interrupt); one mutex, held for O(1) work. Lifetime: one per environment, owned by AddonData
// through a shared_ptr that each watchdog's capture slot shares, so it outlives a capture
// completing after its watchdog is gone.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "../stack/stack_provider.h"

namespace uvscope {

struct RequestRecord {
  double id = 0;  // the tracker's id (HttpRequestRecord.id)
  std::string method;
  std::string url;
  uint64_t startedAtNs = 0;
  double asyncId = 0;
};

// What a report says about whom the thread was working for.
struct Attribution {
  bool hasRequest = false;
  RequestRecord request;
  bool hasContext = false;
  std::string contextJson;         // a JSON object (the user's fields)
  std::string contextUnavailable;  // why the user's context cannot be read here
};

class RequestTable {
 public:
  static constexpr size_t kMaxRequests = 100000;  // beyond: counted, not kept
  static constexpr size_t kMaxUrlBytes = 2048;    // longer URLs are cut (at a character boundary)

  void Start(double id, double asyncId, std::string method, std::string url, uint64_t startedAtNs);
  void Finish(double id);
  // The request of the interrupt's context: uvscope's request id in the async context frame
  // (Node 24+), else the latest request started in the execution async id's resource, else in
  // the trigger async id's; and the user's context fields.
  Attribution Attribute(const uvscope_stack_context& context) const;
  size_t size() const;
  uint64_t untracked() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<double, RequestRecord> byId_;
  std::unordered_map<double, double> latestByAsyncId_;
  uint64_t untracked_ = 0;
};

// `,"request":{...}`, `,"context":{...}`, `,"contextUnavailable":"..."` as they apply.
void AppendAttribution(std::string& out, const Attribution& attribution);

// requestStarted(id, asyncId, method, url), requestFinished(id), requestTableSize() on this
// environment's table.
void InitRequestTable(Napi::Env env, Napi::Object exports, std::shared_ptr<RequestTable> table);

}  // namespace uvscope
