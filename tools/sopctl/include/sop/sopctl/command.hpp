#pragma once
/// sopctl's command registry: each command lives in its own file under src/commands/ and
/// registers itself with a static `CommandRegistrar`, so adding a command is adding a file.

#include <chrono>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sop/model/error.hpp"

namespace grpc {
class Channel;
class Status;
}  // namespace grpc
namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace sop::sopctl {

/// Exit codes: 0 success, 1 the operation failed (service error, rejected input), 2 usage.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

/// The services sopctl talks to, with their default addresses (overridden by --<name> ADDR or
/// the environment variable SOPCTL_<NAME>, e.g. SOPCTL_INGESTION=ingestion:50051).
struct ServiceAddress {
  std::string name;          ///< "ingestion"
  std::string grpc_service;  ///< "sop.v1.Ingestion" (the health service name)
  std::string address;       ///< "localhost:50051"
};
std::vector<ServiceAddress> DefaultServices();

/// What a command gets: its own arguments (after the command name), the global options and the
/// output streams. Plain value owned by RunCli for the duration of the command.
struct CommandContext {
  std::vector<std::string> args;
  std::map<std::string, ServiceAddress> services;  ///< by name
  bool json = false;
  std::chrono::milliseconds timeout{30'000};
  /// Bearer token sent with every call (--token before the command, or $SOPCTL_TOKEN); writes
  /// need one when the services run with auth.tokens-file (libs/auth). Empty: none.
  std::string token;
  std::ostream& out;
  std::ostream& err;

  /// A channel to service `name` (plaintext) whose calls carry `token`. Throws std::out_of_range
  /// for an unknown name (a programming error in a command).
  std::shared_ptr<grpc::Channel> Channel(const std::string& name) const;
  /// Deadline for one call.
  std::chrono::system_clock::time_point Deadline() const {
    return std::chrono::system_clock::now() + timeout;
  }
  /// Prints "sopctl <command>: <message>" to err and returns kExitFailure.
  int Failed(std::string_view command, std::string_view message) const;
};

/// One sopctl command. `run` returns the process exit code.
struct Command {
  std::string name;
  std::string summary;  ///< one line for `sopctl help`
  std::string usage;    ///< e.g. "sopctl ingest FILE [--batch N]"
  std::function<int(CommandContext&)> run;
};

/// All registered commands, by name. Registration happens during static initialization (one
/// registrar per command file); afterwards it is read-only, so lookups are thread-safe.
class CommandRegistry {
 public:
  static CommandRegistry& Instance();
  void Add(Command command);
  const Command* Find(std::string_view name) const;
  const std::map<std::string, Command, std::less<>>& commands() const { return commands_; }

 private:
  std::map<std::string, Command, std::less<>> commands_;
};

/// `static const CommandRegistrar kRegistered{Command{...}};` in a command's file.
struct CommandRegistrar {
  explicit CommandRegistrar(Command command) {
    CommandRegistry::Instance().Add(std::move(command));
  }
};

/// Runs sopctl with `args` (argv without the program name). Returns the exit code.
int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

/// Output helpers shared by the commands.
/// `text` escaped for a JSON string literal (without the quotes; runtime::AppendJsonString).
std::string JsonEscape(std::string_view text);
/// Prints rows as an aligned table with a header line (for people).
void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);
/// Prints `message` as one JSON object on a line (proto field names, default values included)
/// and returns kExitOk; context.Failed(command, ...) if it cannot be printed.
int PrintJson(CommandContext& context, std::string_view command,
              const google::protobuf::Message& message);
/// "NOT_FOUND: <message>": a failed call's gRPC code name and the service's message.
std::string StatusText(const grpc::Status& status);
/// A quantity for people: whole numbers without decimals, others with two.
std::string Quantity(double value);

}  // namespace sop::sopctl
