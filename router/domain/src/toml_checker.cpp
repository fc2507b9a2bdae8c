// Collecting problems of a TOML file with their lines; reading and parsing the file.
#include "acd/domain/toml_checker.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace acd::domain {

std::string plain(double v) {
  char text[64];
  if (v == static_cast<double>(static_cast<long long>(v)) && v > -1e18 && v < 1e18) {
    std::snprintf(text, sizeof(text), "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(text, sizeof(text), "%.6g", v);
  }
  return text;
}

std::optional<toml::table> parse_toml(const std::string& text, const std::string& source,
                                      std::vector<std::string>& problems) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << source << ":" << e.source().begin.line << ": " << e.description()
      << "; fix the TOML syntax";
    problems.push_back(s.str());
    return std::nullopt;
  }
}

std::string read_text_file(const std::string& path, std::string& text) {
  // A configuration is a regular file of modest size: not a device, a pipe or a directory.
  constexpr std::uintmax_t kMaxBytes = 64u << 20;
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    return path + ": not a regular file";
  }
  if (!ec && std::filesystem::exists(status) && std::filesystem::file_size(path, ec) > kMaxBytes) {
    return path + ": larger than 64 MiB; is this the right file?";
  }
  std::ifstream in(path);
  if (!in) {
    return path + ": cannot be read; check the path and its permissions";
  }
  std::stringstream all;
  all << in.rdbuf();
  text = all.str();
  return {};
}

void TomlChecker::error(const toml::node* where, const std::string& what) {
  std::ostringstream s;
  s << source_;
  if (where != nullptr && where->source().begin.line > 0) {
    s << ":" << where->source().begin.line;
  }
  s << ": " << what;
  problems_.push_back(s.str());
}

void TomlChecker::error(const toml::table& t, std::string_view key, const std::string& what) {
  const toml::node* n = t.get(key);
  error(n != nullptr ? n : &t, what);
}

void TomlChecker::only(const toml::table& t, const std::vector<std::string_view>& keys,
                       const std::string& where) {
  for (const auto& [key, node] : t) {
    if (std::find(keys.begin(), keys.end(), key.str()) == keys.end()) {
      unknown_key(node, key.str(), keys, where);
    }
  }
}

void TomlChecker::unknown_key(const toml::node& n, std::string_view key,
                              const std::vector<std::string_view>& known,
                              const std::string& where) {
  std::string list;
  for (std::string_view k : known) {
    list += (list.empty() ? "" : ", ") + std::string(k);
  }
  error(&n, "unknown key '" + std::string(key) + "' in " + where + "; known keys: " + list);
}

bool TomlChecker::text(const toml::table& t, std::string_view key, std::string& out) {
  const toml::node* n = t.get(key);
  if (n == nullptr) {
    return false;
  }
  std::optional<std::string> v = n->value<std::string>();
  if (!v) {
    error(n, "'" + std::string(key) + "' must be a string");
    return false;
  }
  out = *v;
  return true;
}

std::string TomlChecker::where(const toml::node& n) const {
  return source_ + ":" + std::to_string(n.source().begin.line);
}

}  // namespace acd::domain
