#pragma once

// cluster-cli's commands: splitting a line into words, the command table
// with each command's usage, and checking a command's arguments. Plain C++.

#include "messages/raft_rpc.hpp"

#include <optional>
#include <string>
#include <vector>

namespace raft::cli {

/// The result of splitting a line: words, or why the line is malformed.
struct split_result {
  std::vector<std::string> words;
  std::string error;
};

/// Splits at blanks. "double quotes" and 'single quotes' keep blanks in a
/// word (a word may mix quoted and plain parts); inside double quotes and
/// outside quotes a backslash escapes the next character. An unterminated
/// quote or a trailing backslash is an error.
split_result split_words(const std::string& line);

/// One command of the table.
struct command_spec {
  const char* name;
  const char* args;     ///< "KEY VALUE", "" if none
  const char* summary;  ///< one line
  std::size_t min_args;
  std::size_t max_args; ///< SIZE_MAX: any number
  bool one_shot;        ///< allowed with --connect as a single command
};

/// Every command, in help order.
const std::vector<command_spec>& commands();

/// The command called `name` (aliases: exit -> quit, ? -> help).
const command_spec* find_command(const std::string& name);

/// "usage: put KEY VALUE  -- set KEY to VALUE".
std::string usage(const command_spec& c);

/// The help text: every command with its usage.
std::string help_text();

/// A node id: a decimal number 1 .. 2^63-1. nullopt otherwise.
std::optional<node_id> parse_id(const std::string& s);

/// A cluster size for init: 1 .. max_cluster_size.
inline constexpr std::size_t max_cluster_size = 15;
std::optional<std::size_t> parse_count(const std::string& s);

/// One partition group, "1,2,3" (no blanks, no empty or repeated ids).
std::optional<std::vector<node_id>> parse_group(const std::string& s, std::string& error);

/// A list of addresses "host:port[,host:port...]" (each checked).
std::optional<std::vector<std::string>> parse_addresses(const std::string& s, std::string& error);

/// Checks the argument count of `words` (words[0] is the command). Returns
/// "" if fine, else the reason ("put takes 2 arguments, got 1").
std::string check_arity(const command_spec& c, const std::vector<std::string>& words);

} // namespace raft::cli
