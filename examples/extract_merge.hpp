#pragma once
// r2plus1d-extract --merge DIR: after the shards of an array job (--shard K/N
// or --shard auto) have written into one output directory, checks that every
// input of the run has its output and its rows, that each output loads and
// holds as many clips as its rows say, writes index.csv from the rows of the
// complete inputs in the run's order, and lists the others in
// DIR/incomplete.txt, a file a rerun takes as --input-list.

#include "extract_files.hpp"
#include "extract_index.hpp"
#include "extract_inputs.hpp"
#include "extract_output_dir.hpp"
#include "extract_outputs.hpp"

#include <r2plus1d/r2plus1d.hpp>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <sys/file.h>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

namespace extract {

/// The file of a merge that names the inputs still to run.
constexpr const char* kIncompleteList = "incomplete.txt";

/// What --merge found.
struct MergeReport {
  std::size_t inputs = 0;                                   ///< inputs of the run
  std::vector<std::string> complete;                        ///< their output names, in the run's order
  std::vector<std::pair<std::string, std::string>> missing; ///< (input, why): no output
  std::vector<std::pair<std::string, std::string>> failed;  ///< (input, why): an output that cannot be trusted
  std::set<std::string> shard_indexes;                      ///< index.K-of-N.csv files found
  std::size_t rows = 0;                                     ///< rows written to index.csv
};

namespace detail {

// Throws when a process still holds the lock of one of the directory's
// indexes (a shard still running): its rows would be merged half-written.
inline void check_no_shard_running(const OutputDir& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir.meta(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string post = ".lock";
    if (name.size() <= post.size() || name.compare(name.size() - post.size(), post.size(), post) != 0) continue;
    const std::string index = name.substr(0, name.size() - post.size());
    if (!is_index_name(index) || index == "index.csv") continue;
    const int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    const bool busy = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::close(fd);
    if (busy)
      throw r2plus1d::IoError("--merge: '" + index + "' is being written by a shard still running; merge once the "
                              "array job has ended (e.g. sbatch --dependency=afterany:JOBID)");
  }
}

}  // namespace detail

/// Checks and merges the output directory `dir` of a run over `inputs`
/// (the run's inputs, in its order), whose output names `name_of` gives;
/// `format` is the run's --format. Writes DIR/index.csv and DIR/incomplete.txt
/// (or removes an earlier incomplete.txt when nothing is left to run).
inline MergeReport merge_output_dir(const std::string& dir, const std::vector<Input>& inputs,
                                    const std::function<std::string(const Input&)>& name_of,
                                    const std::string& format) {
  std::error_code ec;
  if (!fs::is_directory(fs::path(dir) / kMetaDir, ec))
    throw r2plus1d::IoError("--merge: '" + dir + "' is not an output directory of r2plus1d-extract (no " + kMetaDir +
                            " in it)");
  const OutputDir out(dir, "index.csv");
  detail::check_no_shard_running(out);
  const Ledger ledger(dir, out.meta("rows"));

  MergeReport rep;
  rep.inputs = inputs.size();
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name != "index.csv" && is_index_name(name)) rep.shard_indexes.insert(name);
  }
  std::set<std::string> seen;
  for (const Input& in : inputs) {
    std::string name;
    try {
      name = name_of(in);
    } catch (const std::exception& e) {
      rep.failed.emplace_back(in.path, e.what());
      continue;
    }
    if (!seen.insert(name).second) {
      rep.failed.emplace_back(in.path, "its output '" + name + "' is also that of an earlier input");
      continue;
    }
    switch (ledger.state(name)) {
      case Ledger::State::absent:
        rep.missing.emplace_back(in.path, "no output '" + name + "'");
        continue;
      case Ledger::State::unfinished:
        rep.failed.emplace_back(in.path, "'" + name + "': its run stopped before the index rows were stored");
        continue;
      case Ledger::State::foreign:
        rep.failed.emplace_back(in.path, "'" + name + "' exists but has no index rows (not written by this tool?)");
        continue;
      case Ledger::State::done:
        break;
    }
    try {
      const std::optional<std::string> kept = read_file(ledger.rows_path(name));
      const auto recs = index_records(kept ? *kept : "");
      const r2plus1d::index_t clips = rows_of(ledger.output_path(name), format);
      if (static_cast<std::size_t>(clips) != recs.size())
        throw r2plus1d::IoError("'" + name + "' holds " + std::to_string(clips) + " clip(s) but its index rows " +
                                std::to_string(recs.size()));
      for (const auto& rec : recs)
        if (rec[0] != in.path)
          throw r2plus1d::IoError("'" + name + "': its index rows are those of '" + rec[0] + "', not of this input");
      rep.complete.push_back(name);
    } catch (const std::exception& e) {
      rep.failed.emplace_back(in.path, e.what());
    }
  }

  rep.rows = ledger.write_index((fs::path(dir) / "index.csv").string(), &rep.complete);
  const std::string list = (fs::path(dir) / kIncompleteList).string();
  if (rep.missing.empty() && rep.failed.empty()) {
    fs::remove(list, ec);
  } else {
    std::string text;
    for (const auto* group : {&rep.missing, &rep.failed})
      for (const auto& [path, why] : *group) {
        (void)why;
        if (path.find_first_of("\r\n") != std::string::npos || path.empty() || path.front() == '#' ||
            path.front() == ' ' || path.front() == '\t' || path.back() == ' ' || path.back() == '\t')
          throw r2plus1d::IoError("--merge: input '" + path + "' cannot be written to a list of inputs (its name "
                                  "begins or ends with a blank, begins with '#' or holds a line break); rename it");
        text += path + "\n";
      }
    write_file(list, text);
  }
  return rep;
}

}  // namespace extract
