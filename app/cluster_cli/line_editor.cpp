#include "app/cluster_cli/line_editor.hpp"

#include <cerrno>
#include <termios.h>
#include <unistd.h>

namespace raft::cli {

namespace {

bool continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

void write_all(const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    auto n = ::write(STDOUT_FILENO, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;
    done += static_cast<std::size_t>(n);
  }
}

} // namespace

void line_editor::reset() {
  line_.clear();
  cursor_ = 0;
  history_pos_ = history_.size();
  draft_.clear();
  esc_state_ = 0;
  esc_params_.clear();
}

std::size_t line_editor::cursor_column() const {
  std::size_t col = 0;
  for (std::size_t i = 0; i < cursor_; ++i)
    if (!continuation(line_[i]))
      ++col;
  return col;
}

void line_editor::add_history(const std::string& entry) {
  if (!entry.empty() && (history_.empty() || history_.back() != entry))
    history_.push_back(entry);
  history_pos_ = history_.size();
}

void line_editor::insert(char c) {
  line_.insert(line_.begin() + static_cast<std::ptrdiff_t>(cursor_), c);
  ++cursor_;
}

void line_editor::left() {
  while (cursor_ > 0) {
    --cursor_;
    if (!continuation(line_[cursor_]))
      break;
  }
}

void line_editor::right() {
  if (cursor_ >= line_.size())
    return;
  ++cursor_;
  while (cursor_ < line_.size() && continuation(line_[cursor_]))
    ++cursor_;
}

void line_editor::erase_before() {
  auto end = cursor_;
  left();
  line_.erase(cursor_, end - cursor_);
}

void line_editor::erase_at() {
  auto start = cursor_;
  right();
  line_.erase(start, cursor_ - start);
  cursor_ = start;
}

void line_editor::history_step(int direction) {
  if (direction < 0) {
    if (history_pos_ == 0)
      return;
    if (history_pos_ == history_.size())
      draft_ = line_;
    --history_pos_;
    line_ = history_[history_pos_];
  } else {
    if (history_pos_ >= history_.size())
      return;
    ++history_pos_;
    line_ = history_pos_ == history_.size() ? draft_ : history_[history_pos_];
  }
  cursor_ = line_.size();
}

void line_editor::escape_final(char final_byte) {
  switch (final_byte) {
    case 'A': history_step(-1); break;
    case 'B': history_step(+1); break;
    case 'C': right(); break;
    case 'D': left(); break;
    case 'H': cursor_ = 0; break;
    case 'F': cursor_ = line_.size(); break;
    case '~': {
      // ESC [ n ~ ; modifiers after ';' are ignored.
      auto n = esc_params_.substr(0, esc_params_.find(';'));
      if (n == "1" || n == "7")
        cursor_ = 0;
      else if (n == "4" || n == "8")
        cursor_ = line_.size();
      else if (n == "3")
        erase_at();
      break;
    }
    default: break; // unknown sequences are ignored
  }
}

line_editor::event line_editor::feed(char c) {
  if (esc_state_ == 1) {
    if (c == '[' || c == 'O') {
      esc_state_ = 2;
      esc_params_.clear();
    } else {
      esc_state_ = 0; // Alt+key and the like: ignored
    }
    return event::none;
  }
  if (esc_state_ == 2) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x40 && u <= 0x7E) {
      esc_state_ = 0;
      escape_final(c);
    } else if (esc_params_.size() < 16) {
      esc_params_ += c;
    } else {
      esc_state_ = 0; // runaway sequence
    }
    return event::none;
  }
  return key(c);
}

line_editor::event line_editor::key(char c) {
  switch (c) {
    case '\r':
    case '\n': return event::accept;
    case 0x1b: esc_state_ = 1; return event::none;
    case 0x03: // Ctrl-C
      line_.clear();
      cursor_ = 0;
      history_pos_ = history_.size();
      return event::cancel;
    case 0x04: // Ctrl-D
      if (line_.empty())
        return event::end_of_input;
      erase_at();
      return event::none;
    case 0x7f:
    case 0x08: erase_before(); return event::none;
    case 0x01: cursor_ = 0; return event::none;
    case 0x05: cursor_ = line_.size(); return event::none;
    case 0x02: left(); return event::none;
    case 0x06: right(); return event::none;
    case 0x0b: line_.erase(cursor_); return event::none;
    case 0x15:
      line_.erase(0, cursor_);
      cursor_ = 0;
      return event::none;
    case 0x17: { // Ctrl-W: blanks, then the word, before the cursor
      auto end = cursor_;
      while (cursor_ > 0 && line_[cursor_ - 1] == ' ')
        --cursor_;
      while (cursor_ > 0 && line_[cursor_ - 1] != ' ')
        --cursor_;
      line_.erase(cursor_, end - cursor_);
      return event::none;
    }
    case 0x0c: return event::clear_screen;
    case 0x10: history_step(-1); return event::none;
    case 0x0e: history_step(+1); return event::none;
    default: break;
  }
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u != 0x7f) // printable ASCII, or a UTF-8 byte
    insert(c);
  return event::none; // other control characters (Tab, ...) are ignored
}

std::string line_editor::render(const std::string& prompt) const {
  std::string out = "\r" + prompt + line_ + "\x1b[K";
  std::size_t after = 0;
  for (std::size_t i = cursor_; i < line_.size(); ++i)
    if (!continuation(line_[i]))
      ++after;
  if (after > 0)
    out += "\x1b[" + std::to_string(after) + "D";
  return out;
}

bool is_terminal(int fd) {
  return ::isatty(fd) == 1;
}

namespace {

/// Raw mode for the lifetime of the object.
class raw_mode {
public:
  raw_mode() {
    if (::tcgetattr(STDIN_FILENO, &saved_) != 0)
      return;
    termios raw = saved_;
    raw.c_iflag &= ~static_cast<tcflag_t>(BRKINT | ICRNL | INLCR | ISTRIP | IXON);
    raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ICANON | IEXTEN | ISIG);
    raw.c_cflag |= CS8;
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    active_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
  }
  ~raw_mode() {
    if (active_)
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  }
  raw_mode(const raw_mode&) = delete;
  raw_mode& operator=(const raw_mode&) = delete;

private:
  termios saved_{};
  bool active_ = false;
};

} // namespace

std::optional<std::string> read_line(line_editor& editor, const std::string& prompt,
                                     const volatile std::sig_atomic_t* interrupted) {
  editor.reset();
  raw_mode raw;
  write_all(editor.render(prompt));
  for (;;) {
    char c = 0;
    auto n = ::read(STDIN_FILENO, &c, 1);
    if (interrupted != nullptr && *interrupted != 0) {
      write_all("\n");
      return std::nullopt;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      write_all("\n");
      return std::nullopt;
    }
    switch (editor.feed(c)) {
      case line_editor::event::accept: {
        write_all("\n"); // output post-processing stays on: "\n" is a new line
        auto line = editor.line();
        editor.add_history(line);
        return line;
      }
      case line_editor::event::cancel:
        write_all("^C\n");
        break;
      case line_editor::event::end_of_input:
        write_all("\n");
        return std::nullopt;
      case line_editor::event::clear_screen:
        write_all("\x1b[H\x1b[2J");
        break;
      case line_editor::event::none:
        if (editor.in_escape())
          continue; // redraw once the sequence is complete
        break;
    }
    write_all(editor.render(prompt));
  }
}

} // namespace raft::cli
