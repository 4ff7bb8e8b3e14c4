#pragma once

// A small line editor for cluster-cli's interactive prompt, in two parts:
//
// * line_editor: the editing state machine. It takes the bytes a terminal
//   sends, one at a time (escape sequences included), and keeps the line,
//   the cursor and the history. Pure: tests feed it bytes.
// * read_line(): puts the terminal in raw mode (no echo, no line buffering,
//   no signals from Ctrl-C), feeds the editor, redraws the line after each
//   key, and restores the terminal before it returns.
//
// Keys: printable text inserts at the cursor (UTF-8 is moved over by code
// point); Left/Right, Ctrl-B/Ctrl-F; Home/End, Ctrl-A/Ctrl-E; Backspace;
// Delete; Up/Down, Ctrl-P/Ctrl-N walk the history (the line being edited
// is kept); Ctrl-K/Ctrl-U kill to the end/start, Ctrl-W the word before the
// cursor; Ctrl-L clears the screen; Enter accepts; Ctrl-C drops the line;
// Ctrl-D ends input on an empty line, else deletes under the cursor.

#include <csignal>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace raft::cli {

/// The editing state machine.
class line_editor {
public:
  /// What a key did.
  enum class event {
    none,         ///< still editing (redraw)
    accept,       ///< Enter: line() is the input
    cancel,       ///< Ctrl-C: the line was dropped
    end_of_input, ///< Ctrl-D on an empty line
    clear_screen, ///< Ctrl-L
  };

  /// Feeds one byte.
  event feed(char c);

  /// Starts a new, empty line (the history stays).
  void reset();

  const std::string& line() const noexcept { return line_; }
  /// The cursor as a byte offset into line().
  std::size_t cursor() const noexcept { return cursor_; }
  /// The cursor as a column (code points before it).
  std::size_t cursor_column() const;

  /// In the middle of an escape sequence (no redraw needed yet).
  bool in_escape() const noexcept { return esc_state_ != 0; }

  /// Appends `entry` (not empty, not a repeat of the newest entry).
  void add_history(const std::string& entry);
  const std::vector<std::string>& history() const noexcept { return history_; }

  /// What redraws the line: carriage return, prompt, line, clear to the
  /// end of the screen line, cursor back into place.
  std::string render(const std::string& prompt) const;

private:
  event key(char c);
  void escape_final(char final_byte);
  void insert(char c);
  void erase_before();
  void erase_at();
  void left();
  void right();
  void history_step(int direction);

  std::string line_;
  std::size_t cursor_ = 0;
  std::vector<std::string> history_;
  /// history_.size() while editing a fresh line.
  std::size_t history_pos_ = 0;
  /// The fresh line, kept while walking the history.
  std::string draft_;
  /// Escape sequence parsing: 0 none, 1 after ESC, 2 after ESC [ or ESC O.
  int esc_state_ = 0;
  std::string esc_params_;
};

/// Whether `fd` is a terminal.
bool is_terminal(int fd);

/// Reads one line from the terminal on stdin with `editor` (raw mode,
/// restored before returning). nullopt at end of input (Ctrl-D on an empty
/// line, or stdin closed) or when `interrupted` becomes true (a signal).
std::optional<std::string> read_line(line_editor& editor, const std::string& prompt,
                                     const volatile std::sig_atomic_t* interrupted = nullptr);

} // namespace raft::cli
