// Reading a TOML file the way every acd file is read: each problem is collected (not just the
// first) as "SOURCE:LINE: what is wrong; what to do", with numbers written as a person writes them.
// Used by the routing domain's reader (domain_file.hpp) and by the readers of the tables around
// it (acdd's [dataplane], [control], [metrics]; acd-sim's [simulation], [[stream]]), so that one
// file gets one kind of message whichever program reads it.
//
// Thread-safety: a TomlChecker is used by one thread; the free functions are pure (read_text_file
// reads the file system).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

namespace acd::domain {

// A number as a person writes it: whole numbers in full (16777216, not 1.67772e+07).
std::string plain(double v);

// Parses TOML text; `source` names it in messages (a path, or "<embedded default>"). On a syntax
// error appends "SOURCE:LINE: what; fix the TOML syntax" to `problems` and returns nothing.
std::optional<toml::table> parse_toml(const std::string& text, const std::string& source,
                                      std::vector<std::string>& problems);

// Reads a configuration file into `text`: a regular file of at most 64 MiB. Returns empty, or
// what is wrong ("PATH: not a regular file", "...: cannot be read; check the path ...").
std::string read_text_file(const std::string& path, std::string& text);

// Collects problems into a list the caller owns; every typed read checks the value and reports a
// wrong type or range itself, so a caller only adds what is specific to its key.
class TomlChecker {
 public:
  TomlChecker(std::string source, std::vector<std::string>& problems)
      : source_(std::move(source)), problems_(problems) {}

  // "SOURCE:LINE: what", or "SOURCE: what" without a node (something missing from the file).
  void error(const toml::node* where, const std::string& what);
  // At the key's value if present, else at the table.
  void error(const toml::table& t, std::string_view key, const std::string& what);

  // Unknown keys are errors: a typo must not silently become a default. `where` names the table
  // in the message ("[[queue]]"); the message lists the known keys.
  void only(const toml::table& t, const std::vector<std::string_view>& keys,
            const std::string& where);
  // The message only() gives for one unknown key, for callers that check keys themselves.
  void unknown_key(const toml::node& n, std::string_view key,
                   const std::vector<std::string_view>& known, const std::string& where);

  // `key` of `t` as a number in [lo, hi], stored as `out = value * scale` (rounded when scaling
  // seconds to milliseconds). False, with `out` unchanged, when absent or reported as wrong.
  template <typename T>
  bool number(const toml::table& t, std::string_view key, T& out, double lo, double hi,
              double scale = 1.0) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      return false;
    }
    const std::optional<double> v = n->value<double>();
    if (!v) {
      error(n, "'" + std::string(key) + "' must be a number");
      return false;
    }
    if (*v < lo || *v > hi) {
      error(n, "'" + std::string(key) + "' = " + plain(*v) + " is out of range; use " + plain(lo) +
                   " to " + plain(hi));
      return false;
    }
    out = static_cast<T>(*v * scale + (scale > 1 ? 0.5 : 0.0));
    return true;
  }

  // `key` of `t` as a string. False when absent or not a string (reported).
  bool text(const toml::table& t, std::string_view key, std::string& out);

  // `key` of `t` as one of the named values. False when absent or not one of them (reported,
  // with the list).
  template <typename E, std::size_t N>
  bool choice(const toml::table& t, std::string_view key, E& out,
              const std::pair<std::string_view, E> (&options)[N]) {
    std::string v;
    if (!text(t, key, v)) {
      return false;
    }
    for (const auto& [name, value] : options) {
      if (name == v) {
        out = value;
        return true;
      }
    }
    std::string known;
    for (const auto& [name, value] : options) {
      known += (known.empty() ? "" : ", ") + std::string(name);
    }
    error(t, key, "'" + std::string(key) + "' = \"" + v + "\" is not one of: " + known);
    return false;
  }

  // "SOURCE:LINE" of a node, for callers that remember where a setting was given.
  std::string where(const toml::node& n) const;
  const std::string& source() const { return source_; }
  // Problems collected so far (by this checker and anything else sharing the list).
  std::size_t count() const { return problems_.size(); }

 private:
  std::string source_;
  std::vector<std::string>& problems_;
};

}  // namespace acd::domain
