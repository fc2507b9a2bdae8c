// acdctl top: who is waiting, for how long and where, and which agents are not taking calls. Each
// refresh asks acdd four read requests (status, queues, calls, agents), sorts them into one frame
// and lays the frame out as lines cut to the screen: full screen with ncurses, plain text or JSON.
#include "top.hpp"

#include "acd/control/control_error.hpp"

#include <curses.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <clocale>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <cwchar>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "client.hpp"

namespace acd::acdctl {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kPlainWidth = 80;
constexpr std::size_t kListed = 100;           // calls and agents a frame keeps (and --json prints)
constexpr std::size_t kPlainRows = 10;         // rows of each list in a plain frame
constexpr std::size_t kSideBySideWidth = 130;  // from here calls and agents share their rows
constexpr auto kAnswerTimeout = std::chrono::seconds(5);

// The queue table's sort orders, in the order `s` cycles through them.
struct QueueSort {
  const char* label;   // in the header
  const char* field;   // of `queues list`
  bool ascending;      // else the largest first
  std::size_t column;  // of the queue table, underlined
};
constexpr std::array<QueueSort, 6> kQueueSorts{{{"oldest wait", "oldest_wait_s", false, 2},
                                                {"waiting", "waiting", false, 1},
                                                {"EWT", "ewt_s", false, 3},
                                                {"service level", "service_level", true, 8},
                                                {"abandoned", "abandoned", false, 7},
                                                {"name", "name", true, 0}}};

// Agent states in the order the header counts them, and the ones whose agents are listed.
constexpr std::array<const char*, 6> kAgentStates{"Ready",  "Reserved", "Busy",
                                                  "WrapUp", "NotReady", "LoggedOut"};
constexpr std::array<std::string_view, 3> kWatchedStates{"NotReady", "WrapUp", "Reserved"};

// ---- Fetching: four read requests make one frame ----------------------------------------------

struct Answers {
  json status;
  json queues;
  json calls;
  json agents;
};

struct Fetched {
  std::optional<Answers> answers;
  std::string error;         // why there are no answers (empty when interrupted)
  int exit_code = 0;         // for the plain and JSON modes
  bool interrupted = false;  // a key or a signal came first
};

// acdd's refusal codes as acdctl's exit codes.
int exit_code_of(const json& answer) {
  return control::exit_status(refusal_of(answer).code);
}

Fetched fetch(const std::string& socket_path, std::span<const int> watch,
              std::optional<std::chrono::milliseconds> timeout) {
  Fetched f;
  Answers a;
  const std::array<std::pair<json*, json>, 4> requests{{
      {&a.status, json{{"cmd", "status"}}},
      {&a.queues, json{{"cmd", "queues"}, {"action", "list"}}},
      {&a.calls, json{{"cmd", "calls"}, {"action", "list"}}},
      {&a.agents, json{{"cmd", "agents"}, {"action", "list"}}},
  }};
  for (const auto& [into, request] : requests) {
    const control::Result<std::optional<json>> asked =
        ask_unless(socket_path, request, watch, timeout);
    if (!asked.ok()) {
      f.error = asked.failure().message;
      f.exit_code = control::exit_status(asked.failure().code);
      return f;
    }
    if (!asked.value().has_value()) {
      f.interrupted = true;
      f.exit_code = control::exit_status(control::ControlError::Unreachable);
      return f;
    }
    const json& answer = *asked.value();
    if (!answer.is_object() || !answer.value("ok", false)) {
      f.error = answer.is_object() ? answer.value("error", std::string("refused")) : "refused";
      f.exit_code = answer.is_object() ? exit_code_of(answer) : 1;
      return f;
    }
    *into = answer.value("result", json());
  }
  f.answers = std::move(a);
  return f;
}

// ---- The frame: what acdd said, sorted for an operator ----------------------------------------

// Nulls last, whatever the direction.
bool before(const json& a, const json& b, const char* field, bool ascending) {
  const json x = a.value(field, json());
  const json y = b.value(field, json());
  if (x.is_null() != y.is_null()) {
    return y.is_null();
  }
  return ascending ? x < y : y < x;
}

// The rows `keep` accepts, the largest `field` (seconds; none counts as least) first, equal ones by
// ID; at most kListed of them, and in `total` how many there were.
std::vector<json> longest(const json& rows, const char* field, auto&& keep, std::size_t& total) {
  struct Key {
    double seconds;
    std::uint64_t id;
    const json* row;
  };
  std::vector<Key> keys;
  for (const json& r : rows) {
    if (keep(r)) {
      const json s = r.value(field, json());
      keys.push_back(
          Key{s.is_number() ? s.get<double>() : -1.0, r.value("id", std::uint64_t{0}), &r});
    }
  }
  total = keys.size();
  const auto n = static_cast<std::ptrdiff_t>(std::min(keys.size(), kListed));
  std::partial_sort(keys.begin(), keys.begin() + n, keys.end(), [](const Key& a, const Key& b) {
    return a.seconds != b.seconds ? a.seconds > b.seconds : a.id < b.id;
  });
  std::vector<json> kept;
  for (auto k = keys.begin(); k != keys.begin() + n; ++k) {
    kept.push_back(*k->row);
  }
  return kept;
}

// One frame: the header's figures, the queues in `sort` order, the queued calls longest waiting
// first and the agents in the watched states longest in that state first. Throws json::exception
// if an answer does not have the shape acdd gives it.
json make_frame(const Answers& a, const QueueSort& sort) {
  const json& st = a.status;
  json frame{{"role", st.value("role", json())},
             {"site", st.value("site", json())},
             {"uptime_s", st.value("uptime_s", json())},
             {"config_version", st.value("config", json::object()).value("version", json())},
             {"calls_in_engine", st.value("calls_in_engine", json())},
             {"rates", st.value("rates", json::object())},
             {"agents_by_state", st.value("agents_by_state", json::object())},
             {"queue_sort", sort.field}};
  std::vector<json> queues(a.queues.begin(), a.queues.end());
  std::stable_sort(queues.begin(), queues.end(), [&](const json& x, const json& y) {
    return before(x, y, sort.field, sort.ascending) ||
           (!before(y, x, sort.field, sort.ascending) && x.value("name", "") < y.value("name", ""));
  });
  frame["queues"] = queues;
  std::size_t total = 0;
  frame["longest_waiting_calls"] = longest(
      a.calls, "in_state_s",
      [](const json& c) { return c.value("state", std::string()) == "queued"; }, total);
  frame["calls_waiting"] = total;
  frame["longest_in_watched_state"] = longest(
      a.agents, "in_state_s",
      [](const json& g) {
        const std::string state = g.value("state", std::string());
        return std::find(kWatchedStates.begin(), kWatchedStates.end(), state) !=
               kWatchedStates.end();
      },
      total);
  frame["agents_watched"] = total;
  return frame;
}

// ---- Text: cells and lines, never wider than the screen ---------------------------------------

enum class Style { Plain, Title, Warning, Faint };

struct Line {
  std::string text;
  Style style = Style::Plain;
  std::size_t mark_at = 0;  // a span drawn underlined: the sorted column
  std::size_t mark_width = 0;
};

// `text` cut to at most `width` display columns (a wide character takes two); control characters
// and bytes that are not text in the locale become '?', so no escape code gets through.
std::string fit(std::string_view text, std::size_t width, std::size_t* used_out = nullptr) {
  std::string out;
  std::size_t used = 0;
  std::mbstate_t state{};
  for (std::size_t i = 0; i < text.size();) {
    wchar_t wc = 0;
    std::size_t n = std::mbrtowc(&wc, text.data() + i, text.size() - i, &state);
    int w = n == 0 || n > text.size() - i ? -1 : wcwidth(wc);
    std::string_view piece = text.substr(i, n == 0 || n > text.size() - i ? 1 : n);
    if (w < 0) {
      state = std::mbstate_t{};
      n = piece.size();
      w = 1;
      piece = "?";
    }
    if (used + static_cast<std::size_t>(w) > width) {
      break;
    }
    out.append(piece);
    used += static_cast<std::size_t>(w);
    i += n;
  }
  if (used_out != nullptr) {
    *used_out = used;
  }
  return out;
}

std::size_t columns_of(std::string_view text) {
  std::size_t used = 0;
  fit(text, text.size(), &used);
  return used;
}

std::string align(std::string_view text, std::size_t width, bool right) {
  std::size_t used = 0;
  const std::string cut = fit(text, width, &used);
  const std::string pad(width - used, ' ');
  return right ? pad + cut : cut + pad;
}

// `left` cut so that `right` fits at the end of the line.
std::string left_right(std::string_view left, std::string_view right, std::size_t width) {
  const std::size_t r = columns_of(right);
  if (r + 2 > width) {
    return fit(left, width);
  }
  return align(left, width - r - 1, false) + " " + std::string(right);
}

std::string duration(const json& seconds) {
  if (!seconds.is_number()) {
    return "-";
  }
  const double d = seconds.get<double>();
  const long long s = d > 0 ? static_cast<long long>(d) : 0;
  char text[32];
  if (s < 60) {
    std::snprintf(text, sizeof(text), "%llds", s);
  } else if (s < 3600) {
    std::snprintf(text, sizeof(text), "%lldm%02llds", s / 60, s % 60);
  } else if (s < 86400) {
    std::snprintf(text, sizeof(text), "%lldh%02lldm", s / 3600, s / 60 % 60);
  } else {
    std::snprintf(text, sizeof(text), "%lldd%02lldh", s / 86400, s / 3600 % 24);
  }
  return text;
}

std::string number(const json& v) {
  if (v.is_number_float()) {
    char text[32];
    std::snprintf(text, sizeof(text), "%.0f", v.get<double>());
    return text;
  }
  if (v.is_string()) {
    return v.get<std::string>();
  }
  return v.is_number() ? v.dump() : "-";
}

std::string percent(const json& fraction) {
  if (!fraction.is_number()) {
    return "-";
  }
  char text[16];
  std::snprintf(text, sizeof(text), "%.0f%%", fraction.get<double>() * 100.0);
  return text;
}

struct Column {
  const char* title;
  std::size_t width;
  bool right;  // numbers
};

std::string cells(std::span<const Column> cols, const std::vector<std::string>& values) {
  std::string out;
  for (std::size_t i = 0; i < cols.size(); ++i) {
    out += (i == 0 ? "" : " ") + align(values[i], cols[i].width, cols[i].right);
  }
  return out;
}

Line titles(std::span<const Column> cols, std::string_view summary, std::size_t width) {
  std::vector<std::string> names;
  for (const Column& c : cols) {
    names.emplace_back(c.title);
  }
  return Line{summary.empty() ? cells(cols, names) : left_right(cells(cols, names), summary, width),
              Style::Title};
}

// The width a column needs for `field` of `rows` (at least its title), at most `most`.
std::size_t widest(const json& rows, const char* field, const char* title, std::size_t most) {
  std::size_t w = std::string_view(title).size();
  for (const json& r : rows) {
    w = std::max(w, columns_of(number(r.value(field, json()))));
  }
  return std::min(w, most);
}

// Up to `rows` lines, one per item; when not all fit, the last says how many more there are.
void add_rows(std::vector<Line>& out, std::size_t listed, std::size_t total, std::size_t rows,
              const std::string& what, auto&& row) {
  if (rows == 0) {
    return;
  }
  if (total == 0) {
    out.push_back(Line{"  no " + what, Style::Faint});
    return;
  }
  const std::size_t shown = total <= rows && listed >= total ? total : std::min(listed, rows - 1);
  for (std::size_t i = 0; i < shown; ++i) {
    out.push_back(Line{row(i)});
  }
  if (shown < total) {
    out.push_back(Line{"  ... " + std::to_string(total - shown) + " more " + what, Style::Faint});
  }
}

// ---- Layout: the frame as lines for a screen of a given width ---------------------------------

// The figures first: role, site, uptime, configuration, calls, rates, agents by state.
std::vector<Line> header_lines(const json& f, const QueueSort& sort, std::size_t width) {
  std::vector<Line> out;
  const std::string who = "acd " + number(f["role"]) + "  site " + number(f["site"]) + "  up " +
                          duration(f["uptime_s"]) + "  config v" + number(f["config_version"]) +
                          "  " + number(f["calls_in_engine"]) + " calls in engine";
  out.push_back(Line{left_right(who, std::string("sort: ") + sort.label, width)});
  const json& r = f["rates"];
  out.push_back(
      Line{fit("per second: " + number(r.value("messages_per_s", json())) + " messages in, " +
                   number(r.value("decisions_per_s", json())) + " routing decisions, " +
                   number(r.value("engine_events_per_s", json())) + " engine events",
               width)});
  std::string agents = "agents:";
  const json& by_state = f["agents_by_state"];
  for (const char* state : kAgentStates) {
    agents += std::string(agents.size() > 7 ? "  " : " ") + state + " " +
              number(by_state.value(state, json(0)));
  }
  for (const auto& [state, n] : by_state.items()) {  // a state this acdctl does not know yet
    if (std::find_if(kAgentStates.begin(), kAgentStates.end(),
                     [&](const char* s) { return state == s; }) == kAgentStates.end()) {
      agents += "  " + state + " " + number(n);
    }
  }
  out.push_back(Line{fit(agents, width)});
  return out;
}

std::vector<Line> queue_lines(const json& f, const QueueSort& sort, std::size_t width,
                              std::size_t rows) {
  const json& queues = f["queues"];
  const std::size_t name_room = width > 67 ? width - 62 : 5;  // the numbers take 62 columns
  const std::array<Column, 9> cols{{{"queue", widest(queues, "name", "queue", name_room), false},
                                    {"waiting", 7, true},
                                    {"oldest", 7, true},
                                    {"EWT", 6, true},
                                    {"ready", 5, true},
                                    {"staffed", 7, true},
                                    {"answered", 8, true},
                                    {"abandoned", 9, true},
                                    {"SL", 5, true}}};
  std::vector<Line> out{titles(cols, "", width)};
  for (std::size_t c = 0; c < sort.column; ++c) {
    out[0].mark_at += cols[c].width + 1;
  }
  out[0].mark_width = cols[sort.column].width;
  add_rows(out, queues.size(), queues.size(), rows, "queues", [&](std::size_t i) {
    const json& q = queues[i];
    const bool waiting = q.value("waiting", 0) > 0;
    return cells(cols,
                 {number(q.value("name", json())), number(q.value("waiting", json())),
                  waiting ? duration(q.value("oldest_wait_s", json())) : "-",
                  duration(q.value("ewt_s", json())), number(q.value("ready_agents", json())),
                  number(q.value("staffed", json())), number(q.value("answered", json())),
                  number(q.value("abandoned", json())), percent(q.value("service_level", json()))});
  });
  return out;
}

std::vector<Line> call_lines(const json& f, std::size_t width, std::size_t rows) {
  const json& calls = f["longest_waiting_calls"];
  const std::size_t total = f.value("calls_waiting", std::size_t{0});
  const std::array<Column, 5> cols{{{"call", widest(calls, "id", "call", 20), true},
                                    {"queue", widest(calls, "queue", "queue", 16), false},
                                    {"waited", 7, true},
                                    {"prio", 4, true},
                                    {"media", 5, false}}};
  std::vector<Line> out{
      titles(cols, std::to_string(total) + " queued calls, longest first", width)};
  add_rows(out, calls.size(), total, rows, "queued calls", [&](std::size_t i) {
    const json& c = calls[i];
    return cells(cols, {number(c.value("id", json())), number(c.value("queue", json())),
                        duration(c.value("in_state_s", json())),
                        number(c.value("priority", json())), number(c.value("media", json()))});
  });
  return out;
}

std::vector<Line> agent_lines(const json& f, std::size_t width, std::size_t rows) {
  const json& agents = f["longest_in_watched_state"];
  const std::size_t total = f.value("agents_watched", std::size_t{0});
  const std::array<Column, 4> cols{{{"agent", widest(agents, "id", "agent", 20), true},
                                    {"state", 8, false},
                                    {"in state", 8, true},
                                    {"reason", 6, true}}};
  std::vector<Line> out{
      titles(cols, std::to_string(total) + " in NotReady/WrapUp/Reserved, longest first", width)};
  add_rows(out, agents.size(), total, rows, "agents in those states", [&](std::size_t i) {
    const json& g = agents[i];
    return cells(cols,
                 {number(g.value("id", json())), number(g.value("state", json())),
                  duration(g.value("in_state_s", json())), number(g.value("reason", json()))});
  });
  return out;
}

// Rows for each table on a screen of `height` rows (0: a plain frame, every queue and
// kPlainRows of each list).
struct Budget {
  std::size_t queues = 0;
  std::size_t calls = 0;
  std::size_t agents = 0;
  bool side_by_side = false;
};

Budget budget_for(const json& f, std::size_t width, std::size_t height) {
  const std::size_t queues = f["queues"].size();
  if (height == 0) {
    return Budget{queues, kPlainRows, kPlainRows, false};
  }
  Budget b;
  b.side_by_side = width >= kSideBySideWidth;
  // header 3, status 1, queue titles 1, help 1; then the titles of the two lists.
  const std::size_t fixed = 6 + (b.side_by_side ? 1 : 2);
  const std::size_t room = height > fixed ? height - fixed : 0;
  const std::size_t calls = std::max<std::size_t>(1, f.value("calls_waiting", std::size_t{0}));
  const std::size_t agents = std::max<std::size_t>(1, f.value("agents_watched", std::size_t{0}));
  // The lists keep at least three rows each while the queues do not all fit.
  const std::size_t lists_need = b.side_by_side ? std::max(calls, agents) : calls + agents;
  const std::size_t reserve =
      std::min({room, b.side_by_side ? std::size_t{3} : std::size_t{6}, lists_need});
  b.queues = std::max(std::min(queues, room - reserve), std::min({queues, room, std::size_t{3}}));
  const std::size_t rest = room - b.queues;
  if (b.side_by_side) {
    b.calls = b.agents = rest;
    return b;
  }
  b.calls = (rest + 1) / 2;
  b.agents = rest - b.calls;
  if (b.calls > calls) {  // a short list lends its rows to the other
    b.agents += b.calls - calls;
    b.calls = calls;
  } else if (b.agents > agents) {
    b.calls += b.agents - agents;
    b.agents = agents;
  }
  return b;
}

// The tables under the header: queues, then the calls and the agents (beside each other on a wide
// screen).
std::vector<Line> table_lines(const json& f, const QueueSort& sort, std::size_t width,
                              const Budget& b) {
  std::vector<Line> out = queue_lines(f, sort, width, b.queues);
  if (!b.side_by_side) {
    const std::vector<Line> calls = call_lines(f, width, b.calls);
    const std::vector<Line> agents = agent_lines(f, width, b.agents);
    out.insert(out.end(), calls.begin(), calls.end());
    out.insert(out.end(), agents.begin(), agents.end());
    return out;
  }
  const std::size_t half = (width - 2) / 2;
  const std::vector<Line> left = call_lines(f, half, b.calls);
  const std::vector<Line> right = agent_lines(f, width - 2 - half, b.agents);
  for (std::size_t i = 0; i < std::max(left.size(), right.size()); ++i) {
    const Line l = i < left.size() ? left[i] : Line{};
    const Line r = i < right.size() ? right[i] : Line{};
    out.push_back(
        Line{align(l.text, half, false) + "  " + r.text, i == 0 ? Style::Title : Style::Plain});
  }
  return out;
}

// ---- Plain text and JSON: for scripts and pipes -----------------------------------------------

void print_plain(const json& f, const QueueSort& sort) {
  std::vector<Line> lines = header_lines(f, sort, kPlainWidth);
  const std::vector<Line> tables = table_lines(f, sort, kPlainWidth, budget_for(f, kPlainWidth, 0));
  lines.insert(lines.end(), tables.begin(), tables.end());
  for (const Line& l : lines) {
    if (l.style == Style::Title) {
      std::printf("\n");  // what the live view shows in reverse video
    }
    std::string text = fit(l.text, kPlainWidth);
    text.erase(text.find_last_not_of(' ') + 1);
    std::printf("%s\n", text.c_str());
  }
  std::fflush(stdout);
}

int run_plain(const TopOptions& o) {
  for (int round = 0; o.count == 0 || round < o.count; ++round) {
    if (round > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(o.interval_s));
    }
    const Fetched got = fetch(o.socket_path, {}, kAnswerTimeout);
    if (!got.answers) {
      std::cerr << "acdctl: " << got.error << "\n";
      return got.exit_code;
    }
    try {
      const json frame = make_frame(*got.answers, kQueueSorts[0]);
      if (o.as_json) {
        std::printf("%s\n", frame.dump(2).c_str());
        return 0;
      }
      if (round > 0) {
        std::printf("\n");
      }
      print_plain(frame, kQueueSorts[0]);
    } catch (const json::exception& e) {
      std::cerr << "acdctl: acdd's answer has an unexpected shape: " << e.what() << "\n";
      return 1;
    }
  }
  return 0;
}

// ---- The full-screen view ---------------------------------------------------------------------

// The terminal in full-screen mode for the life of the object, given back on every way out.
class Screen {
 public:
  Screen() : screen_(newterm(nullptr, stdout, stdin)) {
    if (screen_ != nullptr) {
      cbreak();
      noecho();
      nonl();
      keypad(stdscr, TRUE);
      nodelay(stdscr, TRUE);
      curs_set(0);
    }
  }
  ~Screen() {
    if (screen_ != nullptr) {
      endwin();
      delscreen(screen_);
    }
  }
  Screen(const Screen&) = delete;
  Screen& operator=(const Screen&) = delete;
  bool ok() const { return screen_ != nullptr; }

  // `lines` from the top, `help` on the bottom row; what does not fit is left out.
  void draw(const std::vector<Line>& lines, const Line& help) {
    erase();
    const int rows = LINES;
    for (int y = 0; y + 1 < rows && static_cast<std::size_t>(y) < lines.size(); ++y) {
      put(y, lines[static_cast<std::size_t>(y)]);
    }
    put(rows - 1, help);
    refresh();
  }

 private:
  static void put(int y, const Line& line) {
    const auto width = static_cast<std::size_t>(std::max(COLS, 0));
    const std::string text =
        line.style == Style::Title ? align(line.text, width, false) : fit(line.text, width);
    const attr_t attr = line.style == Style::Title     ? A_REVERSE
                        : line.style == Style::Warning ? A_BOLD
                        : line.style == Style::Faint   ? A_DIM
                                                       : A_NORMAL;
    attron(attr);
    mvaddstr(y, 0, text.c_str());
    attroff(attr);
    if (line.mark_width > 0 && line.mark_at + line.mark_width <= width) {
      mvchgat(y, static_cast<int>(line.mark_at), static_cast<int>(line.mark_width),
              attr | A_BOLD | A_UNDERLINE, 0, nullptr);
    }
  }

  SCREEN* screen_;
};

// SIGINT, SIGTERM, SIGHUP and SIGQUIT as a readable descriptor instead of a handler, for the life
// of the object: Ctrl-C ends the view like q does, with the terminal given back.
class QuitSignals {
 public:
  QuitSignals() {
    sigset_t set;
    sigemptyset(&set);
    for (const int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
      sigaddset(&set, s);
    }
    sigprocmask(SIG_BLOCK, &set, &old_);
    fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  ~QuitSignals() {
    if (fd_ >= 0) {
      close(fd_);
    }
    sigprocmask(SIG_SETMASK, &old_, nullptr);
  }
  QuitSignals(const QuitSignals&) = delete;
  QuitSignals& operator=(const QuitSignals&) = delete;
  int fd() const { return fd_; }
  bool arrived() const {
    signalfd_siginfo info;
    return fd_ >= 0 && read(fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info));
  }

 private:
  sigset_t old_{};
  int fd_ = -1;
};

std::string clock_time(std::time_t t) {
  std::tm local{};
  localtime_r(&t, &local);
  char text[16];
  std::strftime(text, sizeof(text), "%H:%M:%S", &local);
  return text;
}

std::string every(double interval_s) {
  char text[32];
  std::snprintf(text, sizeof(text), "every %g s", interval_s);
  return text;
}

// What the view shows between refreshes.
struct View {
  std::optional<Answers> answers;  // the last good ones
  std::time_t answered_at = 0;
  std::string problem;  // why the last refresh failed
  std::size_t sort = 0;

  std::vector<Line> lines(const TopOptions& o, std::size_t width, std::size_t height) const {
    const QueueSort& s = kQueueSorts[sort];
    std::string trouble = problem;
    std::vector<Line> header{Line{left_right("acd", std::string("sort: ") + s.label, width)},
                             Line{}, Line{}};
    std::vector<Line> tables;
    if (answers) {
      try {
        const json frame = make_frame(*answers, s);
        header = header_lines(frame, s, width);
        tables = table_lines(frame, s, width, budget_for(frame, width, height));
      } catch (const json::exception& e) {
        trouble = std::string("acdd's answer has an unexpected shape: ") + e.what();
      }
    }
    std::vector<Line> out = std::move(header);
    if (trouble.starts_with(o.socket_path + ": ")) {
      trouble.erase(0, o.socket_path.size() + 2);  // the reason fits 80 columns; the path not
    }
    if (!trouble.empty()) {
      out.push_back(Line{fit((answers ? "stale since " + clock_time(answered_at) + ", retrying: "
                                      : "retrying " + every(o.interval_s) + ": ") +
                                 trouble,
                             width),
                         Style::Warning});
    } else if (answers) {
      out.push_back(Line{fit("updated " + clock_time(answered_at) + ", " + every(o.interval_s) +
                                 " from " + o.socket_path,
                             width),
                         Style::Faint});
    } else {
      out.push_back(Line{fit("asking acdd at " + o.socket_path, width), Style::Faint});
    }
    out.insert(out.end(), tables.begin(), tables.end());
    return out;
  }
};

int run_live(const TopOptions& o) {
  const QuitSignals quit;
  Screen screen;
  if (!screen.ok()) {
    return -1;
  }
  View view;
  const std::array<int, 2> watch{STDIN_FILENO, quit.fd()};
  const auto interval =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.interval_s));
  const Line help{"q quit   s sort queues   r refresh now"};
  auto draw = [&] {
    screen.draw(view.lines(o, static_cast<std::size_t>(std::max(COLS, 0)),
                           static_cast<std::size_t>(std::max(LINES, 0))),
                help);
  };
  Clock::time_point due = Clock::now();
  draw();
  for (;;) {
    // Keys and signals first, so a refresh never makes them wait.
    if (quit.arrived()) {
      return 0;
    }
    for (int key; (key = getch()) != ERR;) {
      if (key == 'q' || key == 'Q') {
        return 0;
      }
      if (key == 's' || key == 'S') {
        view.sort = (view.sort + 1) % kQueueSorts.size();
      } else if (key == 'r' || key == 'R') {
        due = Clock::now();
      }
      draw();  // every other key (a resize among them) only redraws
    }
    if (Clock::now() >= due) {
      Fetched got = fetch(o.socket_path, watch, kAnswerTimeout);
      if (got.interrupted) {
        continue;  // answer the key, then ask again
      }
      due = Clock::now() + interval;
      if (got.answers) {
        view.answers = std::move(got.answers);
        view.answered_at = std::time(nullptr);
        view.problem.clear();
      } else {
        view.problem = got.error;
      }
      draw();
      continue;
    }
    std::array<pollfd, 2> fds{{{STDIN_FILENO, POLLIN, 0}, {quit.fd(), POLLIN, 0}}};
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(due - Clock::now());
    poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
  }
}

}  // namespace

int run_top(const TopOptions& options) {
  std::setlocale(LC_CTYPE, "");  // names in the terminal's encoding; numbers stay "C"
  const bool terminal = isatty(STDIN_FILENO) != 0 && isatty(STDOUT_FILENO) != 0;
  if (!options.as_json && options.count == 0 && terminal) {
    const int code = run_live(options);
    if (code >= 0) {
      return code;
    }
    std::cerr << "acdctl: this terminal (TERM) is unknown; printing plain frames instead\n";
  }
  return run_plain(options);
}

}  // namespace acd::acdctl
