#pragma once
// sop-demo's two modes: the live pack computed by the services (default) and the offline pack
// computed by the libraries in one process (--offline).

namespace sop::stack {
struct StackEndpoints;
}  // namespace sop::stack

namespace sop::demo {

/// argv without "--offline"; argv[0] is the program name.
int RunOffline(int argc, char** argv);
/// argv[0] is the program name.
int RunLive(int argc, char** argv);
/// The live demo's S&OP cycle on the stack's sop-workflow (cycle.cpp), printed as Markdown.
void RunSopCycle(const stack::StackEndpoints& endpoints);

}  // namespace sop::demo
