// ReportSink: see report_sink.h.
#include "report_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

namespace uvscope {

namespace {

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0  // macOS: SO_NOSIGPIPE is not set; Node ignores SIGPIPE anyway
#endif

int DupCloexec(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }

// A new open file description of the same pipe, FIFO or device, non-blocking and ours alone.
int Reopen(int fd) {
#if defined(__linux__)
  char path[40];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  int flags = O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  int copy;
  do {
    copy = open(path, flags);
  } while (copy < 0 && errno == EINTR);
  return copy;
#else
  (void)fd;
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace

ReportSink::~ReportSink() { Close(); }

int ReportSink::Open(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return errno;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return errno;
  if ((flags & O_ACCMODE) == O_RDONLY) return EBADF;
  int copy = -1;
  if (S_ISSOCK(st.st_mode)) {
    kind_ = Kind::kSocket;
    copy = DupCloexec(fd);
  } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
    kind_ = S_ISFIFO(st.st_mode) ? Kind::kPipe : Kind::kCharDevice;
    copy = Reopen(fd);
    if (copy < 0) {
      // No /proc, or a pipe whose reader is gone (ENXIO): the caller's own description. It is
      // written only when poll() says there is room, unless it is non-blocking already.
      copy = DupCloexec(fd);
      pollFirst_ = (flags & O_NONBLOCK) == 0;
    }
  } else {
    kind_ = Kind::kRegular;  // block devices too: slow, but not waiting on a reader
    copy = DupCloexec(fd);
  }
  if (copy < 0) {
    int error = errno;
    kind_ = Kind::kNone;
    pollFirst_ = false;
    return error;
  }
  fd_ = copy;
  return 0;
}

size_t ReportSink::LineLimit() const {
  if (kind_ == Kind::kRegular) return kMaxQueuedBytes / 4 - kReservedBytes;
  return kAtomicWriteBytes - kReservedBytes;
}

void ReportSink::Push(std::string line) {
  if (fd_ < 0) return;
  if (line.size() > LineLimit() || queuedBytes_ + line.size() + kReservedBytes > kMaxQueuedBytes) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    unsaid_++;
    return;
  }
  queuedBytes_ += line.size();
  Line queued;
  queued.bytes = std::move(line);
  queue_.push_back(std::move(queued));
}

// The line, as it is about to be written for the first time: it says the drops before it, and
// starts with a newline when the line before it was left unfinished.
void ReportSink::Stamp(Line& line) {
  line.stamped = true;
  size_t before = line.bytes.size();
  if (unsaid_ > 0 && before >= 2 && line.bytes.compare(before - 2, 2, "}\n") == 0) {
    line.bytes.insert(before - 2, ",\"dropped\":" + std::to_string(unsaid_));
    line.carries = unsaid_;
    unsaid_ = 0;
  }
  if (endUnfinished_) {
    line.bytes.insert(line.bytes.begin(), '\n');
    line.endsUnfinished = true;
    endUnfinished_ = false;
  }
  queuedBytes_ += line.bytes.size() - before;
}

ssize_t ReportSink::WriteSome(const char* data, size_t size) {
  if (kind_ == Kind::kSocket) {
    ssize_t sent = send(fd_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0 || errno != ENOTSOCK) return sent;
  }
  return write(fd_, data, size);
}

bool ReportSink::Flush() {
  while (!queue_.empty()) {
    Line& head = queue_.front();
    if (!head.stamped) Stamp(head);
    if (pollFirst_) {
      struct pollfd room = {fd_, POLLOUT, 0};
      int ready = poll(&room, 1, 0);
      if (ready < 0 && errno == EINTR) continue;
      // Nothing ready: later. POLLERR/POLLHUP: the write below says what failed.
      if (ready == 0 || (ready > 0 && (room.revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL)) == 0)) return true;
    }
    ssize_t n = WriteSome(head.bytes.data() + head.offset, head.bytes.size() - head.offset);
    if (n > 0) {
      head.offset += static_cast<size_t>(n);
      if (head.offset == head.bytes.size()) {
        queuedBytes_ -= head.bytes.size();
        queue_.pop_front();
        written_.fetch_add(1, std::memory_order_relaxed);
      }
      continue;  // after a partial write, the rest at once: EAGAIN or an error says why it stopped
    }
    if (n == 0) return true;
    int error = errno;
    if (error == EINTR) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) return true;
    // Refused (EPIPE: no reader; ENOSPC, EFBIG: full; EIO...): this line is lost.
    if (head.offset > 0) AbandonPartial(head);
    Drop(head);
  }
  return false;
}

// A line cut short that cannot be finished. On a regular file whose tail it still is, the
// file is cut back to where it began, as if it had never been written; elsewhere the next
// line starts with a newline, so that the part written stays a line of its own (that does not
// parse) and the next one is whole.
void ReportSink::AbandonPartial(Line& line) {
  size_t written = line.offset;
  if (line.endsUnfinished && written >= 1) written -= 1;  // the newline ended the line before: keep it
  if (written == 0) return;
  if (kind_ == Kind::kRegular) {
    struct stat st;
    off_t end = lseek(fd_, 0, SEEK_CUR);
    if (end >= static_cast<off_t>(written) && fstat(fd_, &st) == 0 && st.st_size == end) {
      off_t start = end - static_cast<off_t>(written);
      if (ftruncate(fd_, start) == 0) {
        lseek(fd_, start, SEEK_SET);  // a descriptor without O_APPEND continues from there
        return;
      }
    }
  }
  endUnfinished_ = true;
}

void ReportSink::Drop(Line& line) {
  dropped_.fetch_add(1, std::memory_order_relaxed);
  unsaid_ += line.carries + 1;
  if (line.endsUnfinished && line.offset == 0) endUnfinished_ = true;  // its newline was not written
  queuedBytes_ -= line.bytes.size();
  queue_.pop_front();
}

void ReportSink::Close() {
  while (!queue_.empty()) {
    Line& head = queue_.front();
    if (head.offset > 0) AbandonPartial(head);
    Drop(head);
  }
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

}  // namespace uvscope
