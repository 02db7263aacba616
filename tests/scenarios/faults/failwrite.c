/* Fails one file's writes the way a full disk or a kill would, for the fault
 * injection tests (tests/fault_injection_test.py). Loaded with LD_PRELOAD:
 *
 *   FAILWRITE_LOG=F     append to F the path of every regular file the
 *                       process writes, at its first write (the run's write
 *                       points)
 *   FAILWRITE_MATCH=G   the first file opened for writing whose absolute path
 *                       matches the glob G is the target...
 *   FAILWRITE_MODE=M    ...and at its first write: 'enospc' fails that write
 *                       and every later write to a file the process opened
 *                       (the disk is full from then on); 'kill' writes half
 *                       the bytes and sends the process SIGKILL.
 *
 * Opens are seen at open/openat/creat/fopen; writes at write/pwrite/writev/
 * pwritev/fwrite, which is how Python, TensorFlow's file system and
 * tensorstore (orbax) write.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FD 16384
#define MAX_PATH 512
enum { WRITABLE = 1, TARGET = 2, LOGGED = 4 };
static char fd_path[MAX_FD][MAX_PATH];  /* For the log; cut if longer. */
static unsigned char fd_kind[MAX_FD];
static int target_taken, disk_full;

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static int wants_write(int flags) {
  return (flags & O_ACCMODE) != O_RDONLY;
}

static void log_path(const char *path) {
  const char *log = getenv("FAILWRITE_LOG");
  if (!log || strcmp(log, path) == 0) return;
  int fd = REAL(open)(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char line[4200];
  int n = snprintf(line, sizeof line, "%s\n", path);
  if (n > 0 && n < (int)sizeof line) REAL(write)(fd, line, n);
  REAL(close)(fd);
}

static void opened(int fd, int writable) {
  if (fd < 0 || fd >= MAX_FD) return;
  fd_kind[fd] = 0;
  if (!writable) return;
  char link[64], path[4097];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  struct stat st;
  if (n <= 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  path[n] = '\0';
  size_t kept = (size_t)n < MAX_PATH - 1 ? (size_t)n : MAX_PATH - 1;
  memcpy(fd_path[fd], path, kept);
  fd_path[fd][kept] = '\0';
  fd_kind[fd] = WRITABLE;
  const char *match = getenv("FAILWRITE_MATCH");
  if (match && fnmatch(match, path, 0) == 0 &&
      __atomic_exchange_n(&target_taken, 1, __ATOMIC_SEQ_CST) == 0)
    fd_kind[fd] |= TARGET;
}

/* Returns -1 (errno set) when this write must fail, else 0; a kill does not
 * return. `partial` writes half of the buffer before a kill. */
static int fault(int fd, const void *buf, size_t count, off_t offset,
                 int positioned) {
  if (fd < 0 || fd >= MAX_FD || !fd_kind[fd]) return 0;
  if (!(fd_kind[fd] & LOGGED)) {
    fd_kind[fd] |= LOGGED;
    log_path(fd_path[fd]);
  }
  if (fd_kind[fd] & TARGET) {
    const char *mode = getenv("FAILWRITE_MODE");
    if (mode && strcmp(mode, "kill") == 0) {
      if (buf && count > 1) {
        if (positioned) REAL(pwrite)(fd, buf, count / 2, offset);
        else REAL(write)(fd, buf, count / 2);
      }
      kill(getpid(), SIGKILL);
    }
    __atomic_store_n(&disk_full, 1, __ATOMIC_SEQ_CST);
  }
  if (__atomic_load_n(&disk_full, __ATOMIC_SEQ_CST)) {
    errno = ENOSPC;
    return -1;
  }
  return 0;
}

static mode_t mode_arg(int flags, va_list args) {
  return (flags & (O_CREAT | O_TMPFILE)) ? va_arg(args, mode_t) : 0;
}

int open(const char *path, int flags, ...) {
  va_list args; va_start(args, flags);
  mode_t mode = mode_arg(flags, args); va_end(args);
  int fd = REAL(open)(path, flags, mode);
  opened(fd, wants_write(flags));
  return fd;
}

int open64(const char *path, int flags, ...) {
  va_list args; va_start(args, flags);
  mode_t mode = mode_arg(flags, args); va_end(args);
  int fd = REAL(open64)(path, flags, mode);
  opened(fd, wants_write(flags));
  return fd;
}

int openat(int dirfd, const char *path, int flags, ...) {
  va_list args; va_start(args, flags);
  mode_t mode = mode_arg(flags, args); va_end(args);
  int fd = REAL(openat)(dirfd, path, flags, mode);
  opened(fd, wants_write(flags));
  return fd;
}

int openat64(int dirfd, const char *path, int flags, ...) {
  va_list args; va_start(args, flags);
  mode_t mode = mode_arg(flags, args); va_end(args);
  int fd = REAL(openat64)(dirfd, path, flags, mode);
  opened(fd, wants_write(flags));
  return fd;
}

int creat(const char *path, mode_t mode) {
  int fd = REAL(creat)(path, mode);
  opened(fd, 1);
  return fd;
}

int creat64(const char *path, mode_t mode) {
  int fd = REAL(creat64)(path, mode);
  opened(fd, 1);
  return fd;
}

static int mode_writes(const char *mode) {
  return strpbrk(mode, "wa+") != NULL;
}

FILE *fopen(const char *path, const char *mode) {
  FILE *f = REAL(fopen)(path, mode);
  if (f) opened(fileno(f), mode_writes(mode));
  return f;
}

FILE *fopen64(const char *path, const char *mode) {
  FILE *f = REAL(fopen64)(path, mode);
  if (f) opened(fileno(f), mode_writes(mode));
  return f;
}

int close(int fd) {
  if (fd >= 0 && fd < MAX_FD) fd_kind[fd] = 0;
  return REAL(close)(fd);
}

int fclose(FILE *f) {
  int fd = fileno(f);
  if (fd >= 0 && fd < MAX_FD) fd_kind[fd] = 0;
  return REAL(fclose)(f);
}

ssize_t write(int fd, const void *buf, size_t count) {
  if (fault(fd, buf, count, 0, 0)) return -1;
  return REAL(write)(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
  if (fault(fd, buf, count, offset, 1)) return -1;
  return REAL(pwrite)(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
  if (fault(fd, buf, count, offset, 1)) return -1;
  return REAL(pwrite64)(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
  if (fault(fd, NULL, 0, 0, 0)) return -1;
  return REAL(writev)(fd, iov, iovcnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
  if (fault(fd, NULL, 0, 0, 0)) return -1;
  return REAL(pwritev)(fd, iov, iovcnt, offset);
}

size_t fwrite(const void *buf, size_t size, size_t n, FILE *f) {
  int fd = fileno(f);
  if (fault(fd, NULL, 0, 0, 0)) {
    /* Buffered: a full disk shows at the next flush or here; fail here. */
    return 0;
  }
  return REAL(fwrite)(buf, size, n, f);
}
