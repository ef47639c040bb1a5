// sop-capacity: the capacity service binary. Wiring only: config, logs, metrics, host and gRPC
// come from host::RunServiceMain; the service from CapacityServiceSpec.
#include "sop/capacity/service.hpp"

int main(int argc, char** argv) {
  return sop::host::RunServiceMain(sop::capacity::CapacityServiceSpec(), argc, argv);
}
