// cluster-cli: the operator's console for a caf-raft cluster.
//
//   cluster-cli                                   interactive; `init 3` launches a local cluster
//   cluster-cli --connect 127.0.0.1:7001          interactive, attached to a running cluster
//   cluster-cli --connect 127.0.0.1:7001,127.0.0.1:7002 status --json
//   cluster-cli --connect 127.0.0.1:7001 put k v  one command, then exit (0 on success)
//   cluster-cli --connect 127.0.0.1:7001 add 4 10.0.0.4:7001   admit a node (then start
//                                                 raft-node --raft.join=... on 10.0.0.4)
//   cluster-cli --connect 127.0.0.1:7001 remove 2 / transfer 3 / snapshot 1
//
// Interactive mode reads commands after a `cluster> ` prompt, with line
// editing and history when stdin is a terminal, or one per line from a
// pipe. `help` lists the commands. Exit codes: session.hpp.

#include "app/cluster_cli/command_line.hpp"
#include "app/cluster_cli/line_editor.hpp"
#include "app/cluster_cli/output.hpp"
#include "app/cluster_cli/session.hpp"

#include <csignal>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

using namespace raft;
using namespace raft::cli;

namespace {

volatile std::sig_atomic_t stop_requested = 0;
volatile std::sig_atomic_t interrupts = 0;

void on_stop_signal(int) {
  stop_requested = 1;
}

void on_interrupt(int) {
  interrupts = interrupts + 1;
}

void install(int sig, void (*handler)(int)) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; // no SA_RESTART: a blocked read returns, and we look at the flags
  sigaction(sig, &sa, nullptr);
}

const char* program_usage = "usage: cluster-cli [--json] [--connect HOST:PORT[,HOST:PORT...]] "
                            "[--raft-node PATH] [COMMAND [ARGS...]]\n"
                            "  without COMMAND: interactive ('help' lists the commands)\n"
                            "  with COMMAND: runs it against the cluster at --connect and exits\n"
                            "  exit codes: 0 ok, 1 command failed, 2 bad usage, 3 cluster "
                            "unreachable\n";

struct program_args {
  bool json = false;
  bool help = false;
  std::string connect;
  std::string raft_node;
  std::vector<std::string> command;
  std::string error;
};

/// Options may come anywhere (`status --json`); after `--` everything is
/// a command word (`put k -- --json` stores "--json"... as `put k --json`).
program_args parse_args(int argc, char** argv) {
  program_args a;
  bool words_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (words_only || arg.rfind("--", 0) != 0 || arg == "--") {
      if (arg == "--" && !words_only)
        words_only = true;
      else
        a.command.push_back(arg);
      continue;
    }
    auto value = [&](const std::string& name) -> std::optional<std::string> {
      if (arg.rfind(name + "=", 0) == 0)
        return arg.substr(name.size() + 1);
      if (arg == name && i + 1 < argc)
        return std::string{argv[++i]};
      return std::nullopt;
    };
    if (arg == "--json") {
      a.json = true;
    } else if (arg == "--help") {
      a.help = true;
    } else if (arg == "--connect" || arg.rfind("--connect=", 0) == 0) {
      auto v = value("--connect");
      if (!v || v->empty()) {
        a.error = "--connect needs HOST:PORT[,HOST:PORT...]";
        return a;
      }
      a.connect = *v;
    } else if (arg == "--raft-node" || arg.rfind("--raft-node=", 0) == 0) {
      auto v = value("--raft-node");
      if (!v || v->empty()) {
        a.error = "--raft-node needs the path of the raft-node program";
        return a;
      }
      a.raft_node = *v;
    } else {
      a.error = "unknown option '" + arg + "' (use -- before command words that start with --)";
      return a;
    }
  }
  return a;
}

int one_shot(const program_args& a) {
  session_options opts;
  opts.json = a.json;
  opts.one_shot = true;
  session s(std::cout, std::cerr, opts);
  const auto* c = find_command(a.command[0]);
  if (c != nullptr && std::string{c->name} == "help")
    return s.execute(a.command);
  if (a.connect.empty()) {
    if (a.json)
      std::cout << error_json("a single command needs --connect HOST:PORT[,...]", program_usage)
                << std::endl;
    else
      std::cerr << "error: a single command needs --connect HOST:PORT[,...]\n" << program_usage;
    return exit_usage;
  }
  // Usage errors come before connecting.
  if (c == nullptr || !check_arity(*c, a.command).empty() || !c->one_shot)
    return s.execute(a.command);
  std::string error;
  auto addrs = parse_addresses(a.connect, error);
  if (!addrs) {
    if (a.json)
      std::cout << error_json("--connect: " + error, program_usage) << std::endl;
    else
      std::cerr << "error: --connect: " << error << "\n" << program_usage;
    return exit_usage;
  }
  if (auto code = s.connect(*addrs); code != exit_ok)
    return code;
  return s.execute(a.command);
}

int interactive(const program_args& a) {
  session_options opts;
  opts.json = a.json;
  opts.raft_node_binary = a.raft_node;
  session s(std::cout, std::cerr, opts);
  if (!a.connect.empty()) {
    std::string error;
    if (auto addrs = parse_addresses(a.connect, error))
      s.connect(*addrs);
    else
      std::cerr << "error: --connect: " << error << "\n";
  }
  bool tty = is_terminal(0);
  if (tty && !a.json)
    std::cout << "caf-raft cluster-cli -- 'help' lists the commands, 'quit' leaves\n";
  line_editor editor;
  int last = exit_ok;
  while (!s.quit_requested() && stop_requested == 0) {
    s.flush_events();
    std::optional<std::string> line;
    if (tty) {
      std::cout.flush();
      line = read_line(editor, "cluster> ", &stop_requested);
    } else {
      std::string l;
      if (std::getline(std::cin, l))
        line = std::move(l);
    }
    if (!line)
      break;
    last = s.execute_line(*line);
    if (interrupts > 0 && tty) {
      interrupts = 0;
      std::cout << "(Ctrl-C: a running command cannot be cancelled; 'quit' leaves)\n";
    } else if (interrupts > 0) {
      break; // a script was interrupted
    }
  }
  s.flush_events();
  // In a script, the last command's result is the exit code; a person
  // leaving with quit or Ctrl-D gets 0.
  return tty ? exit_ok : last;
}

} // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  auto a = parse_args(argc, argv);
  if (!a.error.empty()) {
    if (a.json)
      std::cout << error_json(a.error, program_usage) << std::endl;
    else
      std::cerr << "error: " << a.error << "\n" << program_usage;
    return exit_usage;
  }
  if (a.help) {
    std::cout << program_usage << "\n" << help_text();
    return exit_ok;
  }
  if (!a.command.empty())
    return one_shot(a); // launches nothing: the default signal actions are fine
  // Interactive: a signal ends the session cleanly (a launched cluster is
  // stopped); Ctrl-C while a command runs does not kill the session.
  install(SIGTERM, on_stop_signal);
  install(SIGHUP, on_stop_signal);
  install(SIGINT, on_interrupt);
  return interactive(a);
}
