#include "actors/manager/process_supervisor.hpp"

#include <algorithm>
#include <csignal>
#include <sys/wait.h>

namespace raft {

using std::chrono::steady_clock;

process_supervisor::process_supervisor(supervision_options opts) : opts_(std::move(opts)) {
  thread_ = std::thread([this] { run(); });
}

process_supervisor::~process_supervisor() {
  stop_all(std::chrono::seconds(5));
  {
    std::lock_guard<std::mutex> guard{mutex_};
    quit_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void process_supervisor::run() {
  std::unique_lock<std::mutex> lock{mutex_};
  for (;;) {
    while (!commands_.empty()) {
      auto f = std::move(commands_.front());
      commands_.pop_front();
      f();
    }
    if (quit_) {
      lock.unlock();
      for (const auto& line : pending_log_)
        if (opts_.log)
          opts_.log(line);
      lock.lock();
      pending_log_.clear();
      break;
    }
    reap();
    restart_due();
    scan_logs();
    changed_.notify_all();
    // Log lines go out without the lock: a callback may call back into us.
    if (!pending_log_.empty()) {
      auto lines = std::move(pending_log_);
      pending_log_.clear();
      lock.unlock();
      for (const auto& line : lines)
        if (opts_.log)
          opts_.log(line);
      lock.lock();
      continue;
    }
    changed_.wait_for(lock, opts_.poll, [this] { return !commands_.empty() || quit_; });
  }
  // Children left over (cannot happen after stop_all) are killed, not orphaned.
  for (auto& [id, c] : children_)
    if (c.info.running) {
      ::kill(c.info.pid, SIGKILL);
      int status = 0;
      ::waitpid(c.info.pid, &status, 0);
    }
}

void process_supervisor::call(std::function<void()> f) {
  std::unique_lock<std::mutex> lock{mutex_};
  bool done = false;
  commands_.push_back([&] {
    f();
    done = true;
  });
  changed_.notify_all();
  changed_.wait(lock, [&] { return done; });
}

void process_supervisor::log(const std::string& line) {
  pending_log_.push_back(line);
}

void process_supervisor::launch(child& c) {
  c.log_offset = file_size(c.spec.log_path);
  c.info.listening = false;
  auto res = spawn_child(c.spec);
  if (res.pid < 0) {
    c.info.running = false;
    c.info.pid = -1;
    c.info.last_exit = res.error;
    return;
  }
  c.info.pid = res.pid;
  c.info.running = true;
  c.info.started = steady_clock::now();
}

void process_supervisor::reap() {
  auto now = steady_clock::now();
  for (auto& [id, c] : children_) {
    if (!c.info.running)
      continue;
    int status = 0;
    auto r = ::waitpid(c.info.pid, &status, WNOHANG);
    if (r == 0)
      continue; // still running
    auto old_pid = c.info.pid;
    c.info.running = false;
    c.info.listening = false;
    c.info.pid = -1;
    c.info.last_exit = r < 0 ? "lost (waitpid failed)" : describe_wait_status(status);
    if (c.stopping)
      continue;
    // An unexpected death: restart within the budget.
    while (!c.recent.empty() && now - c.recent.front() > opts_.window)
      c.recent.pop_front();
    auto what = "node " + std::to_string(id) + " (pid " + std::to_string(old_pid) + ") "
                + c.info.last_exit;
    if (static_cast<int>(c.recent.size()) >= opts_.max_restarts) {
      c.info.gave_up = true;
      log(what + "; giving up: " + std::to_string(opts_.max_restarts) + " restarts within "
          + std::to_string(opts_.window.count() / 1000) + " s");
      continue;
    }
    auto backoff = opts_.backoff * (1 << std::min<std::size_t>(c.recent.size(), 16));
    backoff = std::min(backoff, opts_.max_backoff);
    c.recent.push_back(now);
    c.restart_at = now + backoff;
    log(what + "; restarting in " + std::to_string(backoff.count()) + " ms (restart "
        + std::to_string(c.recent.size()) + " of " + std::to_string(opts_.max_restarts)
        + " allowed within " + std::to_string(opts_.window.count() / 1000) + " s)");
  }
}

void process_supervisor::restart_due() {
  auto now = steady_clock::now();
  for (auto& [id, c] : children_) {
    if (!c.restart_at || *c.restart_at > now || c.stopping)
      continue;
    c.restart_at.reset();
    ++c.info.restarts;
    launch(c);
    if (c.info.running) {
      log("node " + std::to_string(id) + " restarted as pid " + std::to_string(c.info.pid));
    } else {
      // Counts as another death: the budget decides whether to try again.
      auto now2 = steady_clock::now();
      if (static_cast<int>(c.recent.size()) >= opts_.max_restarts) {
        c.info.gave_up = true;
        log("node " + std::to_string(id) + " cannot be restarted (" + c.info.last_exit
            + "); giving up");
      } else {
        c.recent.push_back(now2);
        c.restart_at = now2 + opts_.max_backoff;
        log("node " + std::to_string(id) + " cannot be restarted (" + c.info.last_exit
            + "); trying again");
      }
    }
  }
}

void process_supervisor::scan_logs() {
  for (auto& [id, c] : children_) {
    if (!c.info.running || c.info.listening)
      continue;
    if (read_from(c.spec.log_path, c.log_offset).find(c.listen_line) != std::string::npos)
      c.info.listening = true;
  }
}

std::string process_supervisor::start(node_id id, launch_spec spec, std::string listen_line) {
  std::string error;
  call([&] {
    if (children_.contains(id)) {
      error = "node " + std::to_string(id) + " is already running";
      return;
    }
    child c;
    c.info.id = id;
    c.info.log_path = spec.log_path;
    c.spec = std::move(spec);
    c.listen_line = std::move(listen_line);
    launch(c);
    if (!c.info.running) {
      error = c.info.last_exit;
      return;
    }
    log("node " + std::to_string(id) + " started as pid " + std::to_string(c.info.pid));
    children_.emplace(id, std::move(c));
  });
  return error;
}

bool process_supervisor::signal(node_id id, int sig) {
  bool sent = false;
  call([&] {
    auto i = children_.find(id);
    if (i != children_.end() && i->second.info.running)
      sent = ::kill(i->second.info.pid, sig) == 0;
  });
  return sent;
}

bool process_supervisor::stop(node_id id, std::chrono::milliseconds grace) {
  bool known = false;
  call([&] {
    auto i = children_.find(id);
    if (i == children_.end())
      return;
    known = true;
    i->second.stopping = true;
    i->second.restart_at.reset();
  });
  if (!known)
    return false;
  stop_all_of({id}, grace);
  return true;
}

void process_supervisor::stop_all(std::chrono::milliseconds grace) {
  std::vector<node_id> ids;
  call([&] {
    for (auto& [id, c] : children_) {
      c.stopping = true;
      c.restart_at.reset();
      ids.push_back(id);
    }
  });
  stop_all_of(ids, grace);
}

void process_supervisor::stop_all_of(const std::vector<node_id>& ids,
                                     std::chrono::milliseconds grace) {
  auto send = [&](int sig) {
    call([&] {
      for (auto id : ids)
        if (auto i = children_.find(id); i != children_.end() && i->second.info.running)
          ::kill(i->second.info.pid, sig);
    });
  };
  auto all_down = [&] {
    for (auto id : ids)
      if (auto i = children_.find(id); i != children_.end() && i->second.info.running)
        return false;
    return true;
  };
  auto wait_down = [&](steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> lock{mutex_};
    return changed_.wait_until(lock, deadline, all_down);
  };
  send(SIGTERM);
  if (!wait_down(steady_clock::now() + grace)) {
    send(SIGKILL);
    wait_down(steady_clock::now() + std::chrono::seconds(10));
  }
  call([&] {
    for (auto id : ids)
      if (auto i = children_.find(id); i != children_.end()) {
        if (i->second.info.running) // unkillable (cannot happen): never leave it unreaped
          ::waitpid(i->second.info.pid, nullptr, 0);
        log("node " + std::to_string(id) + " stopped ("
            + (i->second.info.last_exit.empty() ? std::string{"not running"}
                                                : i->second.info.last_exit)
            + ")");
        children_.erase(i);
      }
  });
}

std::optional<child_info> process_supervisor::info(node_id id) const {
  std::lock_guard<std::mutex> guard{mutex_};
  if (auto i = children_.find(id); i != children_.end())
    return i->second.info;
  return std::nullopt;
}

bool process_supervisor::wait_for(node_id id, steady_clock::time_point deadline,
                                  const std::function<bool(const child_info&)>& pred) const {
  std::unique_lock<std::mutex> lock{mutex_};
  for (;;) {
    auto i = children_.find(id);
    if (i == children_.end())
      return false;
    if (pred(i->second.info))
      return true;
    if (i->second.info.gave_up)
      return false;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      i = children_.find(id);
      return i != children_.end() && pred(i->second.info);
    }
  }
}

bool process_supervisor::wait_listening(node_id id, steady_clock::time_point deadline) const {
  return wait_for(id, deadline, [](const child_info& c) { return c.running && c.listening; });
}

} // namespace raft
