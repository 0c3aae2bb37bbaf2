// The HTTP requests in flight on one environment's thread, kept where the stall watchdog can
// name the request a stall happened in without running JavaScript. The TypeScript request
// tracker writes them into typed arrays (src/loop/request-slots.ts declares the layout: a slot
// per request, its state, id, async id, start time and, on Nodes without async context frames,
// the method and URL as UTF-8 bytes) with no call into the addon per request; `setRequestSlots`
// hands the arrays over once (and again when they grow). The stack addon's interrupt says
// which request (with frames: its id, method and URL) and async ids the blocked thread was
// running in; Attribute() reads the slots and turns that into the request.
//
// Threads: the slots are written by the environment's JavaScript and read by Attribute on the
// same thread (inside V8's interrupt, which comes between two JavaScript operations: a slot is
// marked live after its fields are written and free before they change). Lifetime: one per
// environment, owned by AddonData through a shared_ptr that each watchdog's capture slot
// shares, so it outlives a capture completing after its watchdog is gone; the arrays are held
// by references until the environment's cleanup, which detaches them.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>

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
  // Per slot in the Float64Array: state (1 live), id, async id, start (performance.now() ms),
  // method bytes, URL bytes. The text array holds `textStride` bytes per slot: the method, then
  // the URL.
  static constexpr size_t kMetaStride = 6;

  void SetSlots(const double* meta, size_t metaElements, const uint8_t* text, size_t textBytes, size_t textStride,
                double timeOffsetNs);
  void Detach() { SetSlots(nullptr, 0, nullptr, 0, 0, 0); }
  // The request of the interrupt's context: the one in uvscope's request storage in the async
  // context frame (Node 24+: the frame holds its method and URL, the table its start and whether
  // it is still in flight), else the latest request started in the execution async id's
  // resource, else in the trigger async id's (the table holds their text: Node 20, 22); and the
  // user's context fields.
  Attribution Attribute(const uvscope_stack_context& context) const;

 private:
  // The live slot whose `field` equals `value` with the highest id; -1 when none.
  long Find(size_t field, double value) const;
  // The start of the request whose fields are `m`, on the clock of uv_hrtime.
  uint64_t StartedAtNs(const double* m) const;

  const double* meta_ = nullptr;
  size_t slots_ = 0;
  const uint8_t* text_ = nullptr;
  size_t textStride_ = 0;
  double timeOffsetNs_ = 0;
};

// `,"request":{...}`, `,"context":{...}`, `,"contextUnavailable":"..."` as they apply.
void AppendAttribution(std::string& out, const Attribution& attribution);

// setRequestSlots(meta: Float64Array, text: Uint8Array, textStride, timeOffsetNs) on this
// environment's table.
void InitRequestTable(Napi::Env env, Napi::Object exports, std::shared_ptr<RequestTable> table);

}  // namespace uvscope
