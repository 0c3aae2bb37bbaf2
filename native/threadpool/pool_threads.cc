// Pool threads: see pool_threads.h.
#include "pool_threads.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#ifdef __linux__
#include <sys/syscall.h>
#endif

namespace uvscope {

namespace {

std::mutex registryMutex;
std::vector<int32_t>& Registry() {
  static auto* tids = new std::vector<int32_t>();  // never freed: pool threads outlive every env
  return *tids;
}

int32_t CurrentTid() {
#ifdef __linux__
  return static_cast<int32_t>(syscall(SYS_gettid));
#else
  return 0;
#endif
}

Napi::Value PoolThreadIds(const Napi::CallbackInfo& info) {
  std::vector<int32_t> copy;
  {
    std::lock_guard<std::mutex> lock(registryMutex);
    copy = Registry();
  }
  Napi::Int32Array out = Napi::Int32Array::New(info.Env(), copy.size());
  for (size_t i = 0; i < copy.size(); i++) out[i] = copy[i];
  return out;
}

#ifdef __linux__
// One /proc/self/task/<tid>/schedstat: "<ns on cpu> <ns runnable, waiting> <timeslices>\n".
bool ReadSchedstat(int32_t tid, double out[3]) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char text[128];
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n <= 0) return false;
  text[n] = '\0';
  char* cursor = text;
  for (int i = 0; i < 3; i++) {
    char* end = nullptr;
    unsigned long long value = strtoull(cursor, &end, 10);
    if (end == cursor) return false;
    out[i] = static_cast<double>(value);
    cursor = end;
  }
  return true;
}
#endif

Napi::Value ReadThreadTimes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsTypedArray()) {
    throw Napi::TypeError::New(env, "readThreadTimes(tids: Int32Array, out: Float64Array)");
  }
  Napi::TypedArray tidsArg = info[0].As<Napi::TypedArray>();
  Napi::TypedArray outArg = info[1].As<Napi::TypedArray>();
  if (tidsArg.TypedArrayType() != napi_int32_array || outArg.TypedArrayType() != napi_float64_array ||
      outArg.ElementLength() < tidsArg.ElementLength() * 3) {
    throw Napi::TypeError::New(env, "readThreadTimes(tids: Int32Array, out: Float64Array of 3 per tid)");
  }
  Napi::Int32Array tids = tidsArg.As<Napi::Int32Array>();
  Napi::Float64Array out = outArg.As<Napi::Float64Array>();
#ifdef __linux__
  for (size_t i = 0; i < tids.ElementLength(); i++) {
    double figures[3];
    bool ok = ReadSchedstat(tids[i], figures);
    for (int k = 0; k < 3; k++) out[i * 3 + k] = ok ? figures[k] : NAN;
  }
  return Napi::Boolean::New(env, true);
#else
  for (size_t i = 0; i < out.ElementLength(); i++) out[i] = NAN;
  return Napi::Boolean::New(env, false);
#endif
}

}  // namespace

void RegisterPoolThread() {
  int32_t tid = CurrentTid();
  std::lock_guard<std::mutex> lock(registryMutex);
  Registry().push_back(tid);
}

void InitPoolThreads(Napi::Env env, Napi::Object exports) {
  exports.Set("poolThreadIds", Napi::Function::New(env, PoolThreadIds, "poolThreadIds"));
  exports.Set("readThreadTimes", Napi::Function::New(env, ReadThreadTimes, "readThreadTimes"));
}

}  // namespace uvscope
