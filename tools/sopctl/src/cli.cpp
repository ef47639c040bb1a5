#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <ostream>
#include <stdexcept>

#include "sop/auth/grpc_auth.hpp"
#include "sop/runtime/grpc_server.hpp"
#include "sop/runtime/log.hpp"
#include "sop/sopctl/command.hpp"

namespace sop::sopctl {

std::vector<ServiceAddress> DefaultServices() {
  return {{"ingestion", "sop.v1.Ingestion", "localhost:50051"},
          {"forecasting", "sop.v1.Forecasting", "localhost:50052"},
          {"mrp", "sop.v1.Mrp", "localhost:50053"},
          {"capacity", "sop.v1.Capacity", "localhost:50054"},
          {"exceptions", "sop.v1.Exceptions", "localhost:50055"},
          {"workflow", "sop.v1.Workflow", "localhost:50056"}};
}

std::shared_ptr<grpc::Channel> CommandContext::Channel(const std::string& name) const {
  return auth::CreateBearerChannel(services.at(name).address, token);
}

int CommandContext::Failed(std::string_view command, std::string_view message) const {
  err << "sopctl " << command << ": " << message << "\n";
  return kExitFailure;
}

CommandRegistry& CommandRegistry::Instance() {
  static CommandRegistry registry;
  return registry;
}

void CommandRegistry::Add(Command command) {
  const std::string name = command.name;
  if (!commands_.emplace(name, std::move(command)).second)
    throw std::logic_error("sopctl: command registered twice: " + name);
}

const Command* CommandRegistry::Find(std::string_view name) const {
  const auto it = commands_.find(name);
  return it == commands_.end() ? nullptr : &it->second;
}

std::string JsonEscape(std::string_view text) {
  std::string quoted;
  runtime::AppendJsonString(quoted, text);
  return quoted.substr(1, quoted.size() - 2);
}

void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  auto print = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      out << cell;
      if (i + 1 < widths.size()) out << std::string(widths[i] - cell.size() + 2, ' ');
    }
    out << "\n";
  };
  print(header);
  for (const auto& row : rows) print(row);
}

namespace {

void PrintHelp(std::ostream& out) {
  out << "usage: sopctl [--json] [--timeout SECONDS] [--token TOKEN] [--<service> HOST:PORT ...] "
         "COMMAND [ARGS]\n\n"
         "commands:\n";
  for (const auto& [name, command] : CommandRegistry::Instance().commands())
    out << "  " << std::left << std::setw(12) << name << command.summary << "\n";
  out << "\nservices (flag, environment variable, default address):\n";
  for (const auto& service : DefaultServices()) {
    std::string env = "SOPCTL_" + service.name;
    std::transform(env.begin(), env.end(), env.begin(), [](char c) {
      return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    });
    out << "  --" << std::left << std::setw(12) << service.name << std::setw(20) << env
        << service.address << "\n";
  }
  out << "\n--token (or SOPCTL_TOKEN): bearer token sent with every call (writes need one when "
         "the\n"
         "services run with auth.tokens-file).\n"
         "\n'sopctl help COMMAND' shows a command's usage.\n";
}

}  // namespace

int PrintJson(CommandContext& context, std::string_view command,
              const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) {
    return context.Failed(command, "cannot print the response as JSON");
  }
  context.out << json << "\n";
  return kExitOk;
}

std::string StatusText(const grpc::Status& status) {
  const int code = static_cast<int>(status.error_code());
  // GrpcCodeName says UNKNOWN past the last code; a newer server's code is shown by number.
  const std::string name = code >= 0 && code <= static_cast<int>(grpc::StatusCode::UNAUTHENTICATED)
                               ? std::string(runtime::GrpcCodeName(code))
                               : "CODE_" + std::to_string(code);
  return name + ": " + status.error_message();
}

std::string Quantity(double value) {
  char buffer[48];
  if (std::abs(value - std::round(value)) < 1e-9) {
    std::snprintf(buffer, sizeof buffer, "%.0f", value);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.2f", value);
  }
  return buffer;
}

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::map<std::string, ServiceAddress> services;
  for (auto service : DefaultServices()) {
    std::string env = "SOPCTL_" + service.name;
    std::transform(env.begin(), env.end(), env.begin(), [](char c) {
      return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    });
    if (const char* value = std::getenv(env.c_str()); value != nullptr && *value != '\0')
      service.address = value;
    services.emplace(service.name, std::move(service));
  }
  bool json = false;
  std::chrono::milliseconds timeout{30'000};
  const char* env_token = std::getenv("SOPCTL_TOKEN");
  std::string token = env_token != nullptr ? env_token : "";
  std::size_t i = 0;
  // Global options come before the command name.
  for (; i < args.size() && args[i].starts_with("--"); ++i) {
    const std::string flag = args[i].substr(2);
    if (flag == "json") {
      json = true;
      continue;
    }
    if (flag == "help") {
      PrintHelp(out);
      return kExitOk;
    }
    if (i + 1 >= args.size()) {
      err << "sopctl: --" << flag << " needs a value\n";
      return kExitUsage;
    }
    const std::string& value = args[++i];
    if (flag == "token") {
      token = value;
    } else if (flag == "timeout") {
      char* end = nullptr;
      const double seconds = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(seconds > 0) || seconds > 3600) {
        err << "sopctl: --timeout: must be seconds in (0, 3600], got '" << value << "'\n";
        return kExitUsage;
      }
      timeout = std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
    } else if (auto it = services.find(flag); it != services.end()) {
      it->second.address = value;
    } else {
      err << "sopctl: unknown option --" << flag << " (see sopctl --help)\n";
      return kExitUsage;
    }
  }
  if (i >= args.size()) {
    PrintHelp(err);
    return kExitUsage;
  }
  const std::string name = args[i++];
  if (name == "help") {
    if (i < args.size()) {
      if (const Command* command = CommandRegistry::Instance().Find(args[i])) {
        out << "usage: " << command->usage << "\n" << command->summary << "\n";
        return kExitOk;
      }
      err << "sopctl: unknown command '" << args[i] << "'\n";
      return kExitUsage;
    }
    PrintHelp(out);
    return kExitOk;
  }
  const Command* command = CommandRegistry::Instance().Find(name);
  if (command == nullptr) {
    err << "sopctl: unknown command '" << name << "' (see sopctl help)\n";
    return kExitUsage;
  }
  CommandContext context{
      .args = std::vector<std::string>(args.begin() + static_cast<std::ptrdiff_t>(i), args.end()),
      .services = std::move(services),
      .json = json,
      .timeout = timeout,
      .token = std::move(token),
      .out = out,
      .err = err};
  return command->run(context);
}

}  // namespace sop::sopctl
