#pragma once
// sop-demo's two modes: the live pack computed by the services (default) and the offline pack
// computed by the libraries in one process (--offline).

namespace sop::demo {

/// argv without "--offline"; argv[0] is the program name.
int RunOffline(int argc, char** argv);
/// argv[0] is the program name.
int RunLive(int argc, char** argv);

}  // namespace sop::demo
