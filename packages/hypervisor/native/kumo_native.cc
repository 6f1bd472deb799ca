// kumo_native: the few things Node cannot do by itself for the QEMU driver.
//
// Kept deliberately thin (node-pty style): every function is one syscall sequence,
// takes plain numbers/strings and returns plain values; all policy (which fds to pass,
// which CPUs to pin, what to do when something is missing) lives in TypeScript
// (src/native.ts), which also provides the fallbacks when this addon did not build.
//
//   kvmApiVersion()                 ioctl(/dev/kvm, KVM_GET_API_VERSION)      -> 12
//   kvmCheckExtension(cap)          ioctl(/dev/kvm, KVM_CHECK_EXTENSION, cap) -> int
//   createTap(name, flags, queues, netnsPath) -> { name, fds }  TUNSETIFF per queue
//   sendFd(sockFd, fd, payload)     sendmsg(SCM_RIGHTS) of one fd + payload bytes
//   setAffinity(tid, cpus) / getAffinity(tid)  sched_{set,get}affinity
//
// Errors are thrown as JS Errors whose message is "<what>: <strerror> (errno N)" and
// whose `code` is the errno name, so callers can branch on EPERM/ENOENT.
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

const char* ErrnoName(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case ENODEV: return "ENODEV";
    case ESRCH: return "ESRCH";
    case ENOTSOCK: return "ENOTSOCK";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: return "EUNKNOWN";
  }
}

void ThrowErrno(Napi::Env env, const std::string& what, int e) {
  Napi::Error err = Napi::Error::New(
      env, what + ": " + strerror(e) + " (errno " + std::to_string(e) + ")");
  err.Set("code", Napi::String::New(env, ErrnoName(e)));
  err.Set("errno", Napi::Number::New(env, e));
  err.ThrowAsJavaScriptException();
}

Napi::Value KvmApiVersion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, "open /dev/kvm", errno);
    return env.Undefined();
  }
  int v = ioctl(fd, KVM_GET_API_VERSION, 0);
  int e = errno;
  close(fd);
  if (v < 0) {
    ThrowErrno(env, "ioctl KVM_GET_API_VERSION", e);
    return env.Undefined();
  }
  return Napi::Number::New(env, v);
}

Napi::Value KvmCheckExtension(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "kvmCheckExtension(cap: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int cap = info[0].As<Napi::Number>().Int32Value();
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    ThrowErrno(env, "open /dev/kvm", errno);
    return env.Undefined();
  }
  int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
  int e = errno;
  close(fd);
  if (r < 0) {
    ThrowErrno(env, "ioctl KVM_CHECK_EXTENSION", e);
    return env.Undefined();
  }
  return Napi::Number::New(env, r);
}

// Switches the *calling thread* into the network namespace at `path` for the lifetime of
// the object. setns(2) is per-thread, so the rest of Node (libuv pool, other threads) is
// unaffected, and we switch back before returning to JS. A TAP fd keeps pointing at the
// device in the namespace it was created in, which is how a guest in the root namespace
// gets a NIC that only exists inside a test/tenant namespace.
class NetnsGuard {
 public:
  NetnsGuard() = default;
  bool Enter(const std::string& path, int* err) {
    if (path.empty()) return true;
    std::string self = "/proc/self/task/" + std::to_string(syscall(SYS_gettid)) + "/ns/net";
    orig_ = open(self.c_str(), O_RDONLY | O_CLOEXEC);
    if (orig_ < 0) { *err = errno; return false; }
    int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) { *err = errno; return false; }
    int r = setns(target, CLONE_NEWNET);
    *err = errno;
    close(target);
    if (r < 0) return false;
    entered_ = true;
    return true;
  }
  ~NetnsGuard() {
    if (entered_) setns(orig_, CLONE_NEWNET);
    if (orig_ >= 0) close(orig_);
  }
 private:
  int orig_ = -1;
  bool entered_ = false;
};

// createTap(name, vnetHdr, queues, netnsPath) -> { name, fds }
// With queues > 1 the device is opened with IFF_MULTI_QUEUE, one fd per queue, which is
// what QEMU's `-netdev tap,fds=a:b` + virtio-net `mq=on` expects. An existing persistent
// TAP (made by the network agent) is attached to; otherwise the kernel creates a
// non-persistent one that disappears when the last fd is closed.
Napi::Value CreateTap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsBoolean() || !info[2].IsNumber() ||
      !info[3].IsString()) {
    Napi::TypeError::New(env, "createTap(name: string, vnetHdr: boolean, queues: number, netnsPath: string)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  bool vnetHdr = info[1].As<Napi::Boolean>().Value();
  int queues = info[2].As<Napi::Number>().Int32Value();
  std::string netns = info[3].As<Napi::String>().Utf8Value();
  if (name.size() >= IFNAMSIZ || queues < 1 || queues > 256) {
    Napi::RangeError::New(env, "createTap: name must be < 16 chars and queues in 1..256")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  NetnsGuard guard;
  int err = 0;
  if (!guard.Enter(netns, &err)) {
    ThrowErrno(env, "setns " + netns, err);
    return env.Undefined();
  }
  std::vector<int> fds;
  std::string actual = name;
  for (int q = 0; q < queues; q++) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      err = errno;
      for (int f : fds) close(f);
      ThrowErrno(env, "open /dev/net/tun", err);
      return env.Undefined();
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (vnetHdr) ifr.ifr_flags |= IFF_VNET_HDR;
    if (queues > 1) ifr.ifr_flags |= IFF_MULTI_QUEUE;
    strncpy(ifr.ifr_name, actual.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      err = errno;
      close(fd);
      for (int f : fds) close(f);
      ThrowErrno(env, "ioctl TUNSETIFF " + actual, err);
      return env.Undefined();
    }
    actual = ifr.ifr_name;
    fds.push_back(fd);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", Napi::String::New(env, actual));
  Napi::Array arr = Napi::Array::New(env, fds.size());
  for (size_t i = 0; i < fds.size(); i++) arr.Set(i, Napi::Number::New(env, fds[i]));
  out.Set("fds", arr);
  return out;
}

// sendFd(sockFd, fd, payload, timeoutMs) -> bytes sent
// The socket is Node's own non-blocking unix socket (QMP), so we poll for POLLOUT on
// EAGAIN instead of blocking the event loop indefinitely. The payload goes out in the same
// sendmsg as the SCM_RIGHTS control message: QEMU attaches received fds to the monitor
// and the `getfd` command in that payload names the most recent one.
Napi::Value SendFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsBuffer() ||
      !info[3].IsNumber()) {
    Napi::TypeError::New(env, "sendFd(sockFd: number, fd: number, payload: Buffer, timeoutMs: number)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int sock = info[0].As<Napi::Number>().Int32Value();
  int fd = info[1].As<Napi::Number>().Int32Value();
  Napi::Buffer<char> payload = info[2].As<Napi::Buffer<char>>();
  int timeoutMs = info[3].As<Napi::Number>().Int32Value();

  size_t sent = 0;
  bool fdSent = false;
  while (sent < payload.Length()) {
    struct iovec iov;
    iov.iov_base = payload.Data() + sent;
    iov.iov_len = payload.Length() - sent;
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    char cbuf[CMSG_SPACE(sizeof(int))];
    if (!fdSent) {
      memset(cbuf, 0, sizeof(cbuf));
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof(cbuf);
      struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        struct pollfd p = {sock, POLLOUT, 0};
        int r = poll(&p, 1, timeoutMs);
        if (r == 0) { ThrowErrno(env, "sendFd: socket not writable", ETIMEDOUT); return env.Undefined(); }
        if (r < 0 && errno != EINTR) { ThrowErrno(env, "sendFd: poll", errno); return env.Undefined(); }
        continue;
      }
      ThrowErrno(env, "sendmsg SCM_RIGHTS", errno);
      return env.Undefined();
    }
    fdSent = true;
    sent += static_cast<size_t>(n);
  }
  return Napi::Number::New(env, static_cast<double>(sent));
}

Napi::Value SetAffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsArray()) {
    Napi::TypeError::New(env, "setAffinity(tid: number, cpus: number[])").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  pid_t tid = info[0].As<Napi::Number>().Int32Value();
  Napi::Array cpus = info[1].As<Napi::Array>();
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t i = 0; i < cpus.Length(); i++) {
    int c = cpus.Get(i).As<Napi::Number>().Int32Value();
    if (c < 0 || c >= CPU_SETSIZE) {
      Napi::RangeError::New(env, "setAffinity: cpu index out of range").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    CPU_SET(c, &set);
  }
  if (sched_setaffinity(tid, sizeof(set), &set) < 0) {
    ThrowErrno(env, "sched_setaffinity tid " + std::to_string(tid), errno);
    return env.Undefined();
  }
  return env.Undefined();
}

Napi::Value GetAffinity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "getAffinity(tid: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  pid_t tid = info[0].As<Napi::Number>().Int32Value();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(tid, sizeof(set), &set) < 0) {
    ThrowErrno(env, "sched_getaffinity tid " + std::to_string(tid), errno);
    return env.Undefined();
  }
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &set)) out.Set(k++, Napi::Number::New(env, c));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("kvmApiVersion", Napi::Function::New(env, KvmApiVersion));
  exports.Set("kvmCheckExtension", Napi::Function::New(env, KvmCheckExtension));
  exports.Set("createTap", Napi::Function::New(env, CreateTap));
  exports.Set("sendFd", Napi::Function::New(env, SendFd));
  exports.Set("setAffinity", Napi::Function::New(env, SetAffinity));
  exports.Set("getAffinity", Napi::Function::New(env, GetAffinity));
  return exports;
}

}  // namespace

NODE_API_MODULE(kumo_native, Init)
