#include "sop/model/error.hpp"

// The error model is header-only; this unit keeps sop_model a real library target that the
// domain sources join.
