// The yardstick of bench/threadpool.js: a minimal, but fair, promise-returning uv_queue_work
// job through Node-API, to put the per-job overhead of uvscope's thread pool in scale.
//
//   noop(): Promise<undefined>
//     napi_create_promise, then uv_queue_work with an empty work callback; after_work (on
//     the loop thread) resolves the deferred inside napi_open_callback_scope with one
//     napi_async_context created at load, so promise reactions and nextTicks run before the
//     loop moves on, exactly as uvscope settles its jobs. Nothing else: no statistics, no
//     clocks, no per-job allocation beyond the uv_work_t + deferred.
//   sha256(buffer): Promise<Buffer>
//     the same round trip with one EVP_Digest(SHA-256) of the buffer, read in place (the
//     buffer is kept referenced until the job settles), resolved with a 32-byte Buffer: the
//     best a one-job-per-buffer design can do, to put section (c) in scale.
//   pending(): number of jobs submitted and not settled yet (sanity checks)
//
// Per-environment state lives in instance data. Teardown: the bench awaits every job before
// exiting, so no job is in flight when the environment goes; the async context is destroyed
// in the instance-data finalizer.
#include <node_api.h>
#include <openssl/evp.h>
#include <uv.h>

#include <cstdlib>

namespace {

struct State {
  uv_loop_t* loop = nullptr;
  napi_async_context context = nullptr;
  napi_ref resource = nullptr;  // the async resource object, passed to every callback scope
  double pending = 0;
};

struct Job {
  uv_work_t req;
  napi_env env;
  State* state;
  napi_deferred deferred;
  // sha256() only: the input, kept referenced until settled, and the digest.
  napi_ref input = nullptr;
  const unsigned char* data = nullptr;
  size_t length = 0;
  unsigned char digest[32];
  bool digestOk = false;
};

#define CHECK(call)                                                         \
  do {                                                                      \
    if ((call) != napi_ok) {                                                \
      napi_fatal_error(__FILE__ ":" "raw_queue", NAPI_AUTO_LENGTH, #call, \
                       NAPI_AUTO_LENGTH);                                   \
    }                                                                       \
  } while (0)

void Work(uv_work_t*) {}

void WorkSha256(uv_work_t* req) {
  Job* job = static_cast<Job*>(req->data);
  unsigned int size = 0;
  job->digestOk = EVP_Digest(job->data, job->length, job->digest, &size, EVP_sha256(), nullptr) == 1;
}

void AfterWork(uv_work_t* req, int status) {
  Job* job = static_cast<Job*>(req->data);
  napi_env env = job->env;
  State* state = job->state;
  napi_handle_scope handles;
  CHECK(napi_open_handle_scope(env, &handles));
  napi_value resource;
  CHECK(napi_get_reference_value(env, state->resource, &resource));
  napi_callback_scope scope;
  CHECK(napi_open_callback_scope(env, resource, state->context, &scope));
  napi_value result;
  if (status == 0 && (job->input == nullptr || job->digestOk)) {
    if (job->input == nullptr) {
      CHECK(napi_get_undefined(env, &result));
    } else {
      CHECK(napi_create_buffer_copy(env, sizeof job->digest, job->digest, nullptr, &result));
    }
    CHECK(napi_resolve_deferred(env, job->deferred, result));
  } else {
    napi_value message;
    const char* text = status != 0 ? uv_strerror(status) : "EVP_Digest failed";
    CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message));
    CHECK(napi_create_error(env, nullptr, message, &result));
    CHECK(napi_reject_deferred(env, job->deferred, result));
  }
  state->pending--;
  if (job->input != nullptr) CHECK(napi_delete_reference(env, job->input));
  delete job;
  CHECK(napi_close_callback_scope(env, scope));  // runs microtasks and nextTicks
  CHECK(napi_close_handle_scope(env, handles));
}

napi_value Submit(napi_env env, State* state, Job* job, uv_work_cb work) {
  job->req.data = job;
  job->env = env;
  job->state = state;
  napi_value promise;
  CHECK(napi_create_promise(env, &job->deferred, &promise));
  int rc = uv_queue_work(state->loop, &job->req, work, AfterWork);
  if (rc != 0) {
    napi_value message, error;
    CHECK(napi_create_string_utf8(env, uv_strerror(rc), NAPI_AUTO_LENGTH, &message));
    CHECK(napi_create_error(env, nullptr, message, &error));
    CHECK(napi_reject_deferred(env, job->deferred, error));
    if (job->input != nullptr) CHECK(napi_delete_reference(env, job->input));
    delete job;
    return promise;
  }
  state->pending++;
  return promise;
}

napi_value Noop(napi_env env, napi_callback_info info) {
  State* state;
  CHECK(napi_get_cb_info(env, info, nullptr, nullptr, nullptr, reinterpret_cast<void**>(&state)));
  return Submit(env, state, new Job, Work);
}

// The bench passes a Buffer; anything else is a bench bug and aborts.
napi_value Sha256(napi_env env, napi_callback_info info) {
  State* state;
  size_t argc = 1;
  napi_value buffer;
  CHECK(napi_get_cb_info(env, info, &argc, &buffer, nullptr, reinterpret_cast<void**>(&state)));
  Job* job = new Job;
  void* data;
  CHECK(napi_get_buffer_info(env, buffer, &data, &job->length));
  job->data = static_cast<const unsigned char*>(data);
  CHECK(napi_create_reference(env, buffer, 1, &job->input));
  return Submit(env, state, job, WorkSha256);
}

napi_value Pending(napi_env env, napi_callback_info info) {
  State* state;
  CHECK(napi_get_cb_info(env, info, nullptr, nullptr, nullptr, reinterpret_cast<void**>(&state)));
  napi_value result;
  CHECK(napi_create_double(env, state->pending, &result));
  return result;
}

void Finalize(napi_env env, void* data, void*) {
  State* state = static_cast<State*>(data);
  napi_async_destroy(env, state->context);
  napi_delete_reference(env, state->resource);
  delete state;
}

napi_value Init(napi_env env, napi_value exports) {
  State* state = new State;
  CHECK(napi_get_uv_event_loop(env, &state->loop));
  napi_value resource, name;
  CHECK(napi_create_object(env, &resource));
  CHECK(napi_create_string_utf8(env, "raw-queue", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, resource, name, &state->context));
  CHECK(napi_create_reference(env, resource, 1, &state->resource));
  CHECK(napi_set_instance_data(env, state, Finalize, nullptr));
  napi_property_descriptor properties[] = {
      {"noop", nullptr, Noop, nullptr, nullptr, nullptr, napi_enumerable, state},
      {"sha256", nullptr, Sha256, nullptr, nullptr, nullptr, napi_enumerable, state},
      {"pending", nullptr, Pending, nullptr, nullptr, nullptr, napi_enumerable, state},
  };
  CHECK(napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties));
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
