// ReportSink: where one stall watchdog's report lines go (its `file` option), written so that
// nobody waits on the reader: neither the watched loop thread (it never touches the sink) nor
// the watchdog thread (every write is non-blocking, except to a regular file, which the kernel
// does not block on a reader for).
//
// Owns a private descriptor for the destination, taken at construction: the caller's
// descriptor may be closed (and its number reused) at any time after, and O_NONBLOCK is never
// set on the caller's open file description (it is shared with the app: stderr). Pipes,
// FIFOs, ttys and other character devices are reopened through /proc/self/fd with O_NONBLOCK
// (an open file description of our own); sockets are dup'ed and written with
// send(MSG_DONTWAIT | MSG_NOSIGNAL); regular files are dup'ed (shared offset and O_APPEND, as
// the caller's writes) and written normally. Where none of that is possible (no /proc), the
// dup is written only when poll() says it has room.
//
// Lines wait in a queue bounded in bytes; a line that does not fit, or that the destination
// refuses (EPIPE, ENOSPC, EFBIG, EIO...), is dropped and counted, and the next line that gets
// through says how many were lost before it (`"dropped":N`). Every line written is whole: on a
// pipe or socket (shared by several writers: every thread of every process under `uvscope
// trace`) a line is one write() of at most PIPE_BUF bytes, which the kernel never interleaves
// (the caller builds lines that fit: LineLimit()); a line cut short by a partial write is
// finished before anything else is written, or, when it cannot be (the destination failed),
// cut off a regular file again (ftruncate, when it is still the file's tail) or ended with a
// newline before the next line.
//
// Threads: Push() and Flush() on the watchdog thread only (no lock: the queue is that
// thread's); the counters are atomics any thread may read. Lifetime: the watchdog core's; the
// descriptor is closed by Close() (after the watchdog thread was joined) or the destructor.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include <sys/types.h>

namespace uvscope {

class ReportSink {
 public:
  enum class Kind { kNone, kRegular, kPipe, kSocket, kCharDevice };

  // Lines bound for a pipe or a socket: PIPE_BUF (the POSIX minimum is 512; Linux has 4096).
  static constexpr size_t kAtomicWriteBytes = 4096;
  // Room a queued line must leave for what Flush() may add to it: a newline before it (ending
  // an unfinished line) and `,"dropped":<20 digits>`.
  static constexpr size_t kReservedBytes = 32;
  // Bound on the bytes waiting to be written (lines for other destinations are limited to a
  // quarter of it, so that one line always fits an empty queue).
  static constexpr size_t kMaxQueuedBytes = 4u << 20;

  ReportSink() = default;
  ~ReportSink();
  ReportSink(const ReportSink&) = delete;
  ReportSink& operator=(const ReportSink&) = delete;

  // Loop thread, before the watchdog thread starts: takes a private descriptor for `fd`.
  // Returns 0, or the errno of the failure (EBADF: not open, or not open for writing).
  int Open(int fd);
  bool enabled() const { return fd_ >= 0; }
  // The longest line Push() takes for this destination, with its newline.
  size_t LineLimit() const;

  // Watchdog thread: queues one whole line ("{...}\n", at most LineLimit() bytes), or drops it
  // (counted) when the queue is full.
  void Push(std::string line);
  // Watchdog thread, with no lock held: writes what the destination takes now, without
  // waiting. Returns whether lines are still waiting.
  bool Flush();
  bool pending() const { return !queue_.empty(); }

  // Loop thread, once the watchdog thread is joined: drops what is still queued (counted) and
  // closes the descriptor.
  void Close();

  // Any thread.
  uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Line {
    std::string bytes;
    size_t offset = 0;     // bytes already written (a partial write)
    uint64_t carries = 0;  // the drops its `"dropped":N` says
    bool stamped = false;  // `dropped` (and an unfinished line's newline) added
    bool endsUnfinished = false;  // starts with the newline that ends a line cut short before it
  };

  ssize_t WriteSome(const char* data, size_t size);
  void Stamp(Line& line);
  void Drop(Line& line);            // the head line did not get through
  void AbandonPartial(Line& line);  // the head line was cut short and cannot be finished

  int fd_ = -1;
  Kind kind_ = Kind::kNone;
  bool pollFirst_ = false;  // a blocking descriptor: write only when poll() says there is room
  std::deque<Line> queue_;
  size_t queuedBytes_ = 0;
  uint64_t unsaid_ = 0;         // drops not yet said in a written line
  bool endUnfinished_ = false;  // a cut-short line needs a newline before the next one
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace uvscope
