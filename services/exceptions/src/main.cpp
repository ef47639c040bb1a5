// sop-exceptions: ranked, explained, acknowledged exceptions over Kafka and gRPC. Wiring only:
// the host's main helper reads and validates the config (exit 64 naming the setting), starts
// the service and the gRPC server, and stops them in reverse order on SIGTERM.

#include "sop/exceptions/service.hpp"
#include "sop/host/service_main.hpp"

int main(int argc, char** argv) {
  return sop::host::RunServiceMain(sop::exceptions::ExceptionsServiceSpec(), argc, argv);
}
