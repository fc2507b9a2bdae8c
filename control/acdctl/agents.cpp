// acdctl's agent commands: the cost of new hashes from --cost or a configuration's [signin].
#include "agents.hpp"

#include "acd/control/config.hpp"

namespace acd::acdctl {

control::Result<control::HashCost> hash_cost_of(const std::string& level,
                                                const std::string& config_file) {
  if (!level.empty()) {
    return control::HashCost::named(level);
  }
  if (config_file.empty()) {
    return control::HashCost::named("interactive");
  }
  const control::ConfigResult r = control::load_config(config_file);
  if (!r.ok()) {
    return control::Failure{control::ControlError::Usage, r.errors.front()};
  }
  return control::HashCost{r.config.signin.opslimit,
                           static_cast<std::size_t>(r.config.signin.memlimit_kib) << 10};
}

}  // namespace acd::acdctl
