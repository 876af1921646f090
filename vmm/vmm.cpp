// Vmm; see vmm.h.  Out of line: the members' types are complete here.
#include "vmm/vmm.h"

#include "vmm/migration_control.h"
#include "vmm/self_announce.h"

namespace molt::vmm {

Vmm::Vmm(migration::ParameterStore p) : params(std::move(p)) {}
Vmm::~Vmm() = default;

}  // namespace molt::vmm
