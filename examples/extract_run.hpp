#pragma once
// r2plus1d-extract's dataset run: its inputs (a shard of them with --shard),
// the output directory they are written to (settings checked, outputs and
// index rows stored as one, inputs already done skipped), the closing summary
// and the evaluation of --labels. The directory's names and settings, and
// --merge, are in extract_run_dir.hpp.

#include "extract_args.hpp"
#include "extract_clips.hpp"
#include "extract_dataset.hpp"
#include "extract_eval.hpp"
#include "extract_files.hpp"
#include "extract_index.hpp"
#include "extract_inputs.hpp"
#include "extract_output_dir.hpp"
#include "extract_outputs.hpp"
#include "extract_print.hpp"
#include "extract_run_dir.hpp"

#include <r2plus1d/r2plus1d.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace extract {

// What the outputs of `input` say beside their numbers (--format csv and jsonl).
inline extract::OutputRows output_rows(const Args& a, const std::string& input) {
  extract::OutputRows o;
  o.format = a.format;
  o.scores = a.logits || a.topk > 0;
  o.video_level = a.video_level;
  o.full_scores = a.logits || a.labelled.has_value();
  o.topk = a.topk > 0 ? a.topk : 5;
  o.crops = a.crops;
  o.input = input;
  return o;
}

// The inputs of a dataset run: all those given, or with --shard the shard's,
// and the name of the index they write.
struct DatasetInputs {
  std::vector<extract::Input> all;
  std::string shard;  // "K/N", or "" for all the inputs
  std::string index_name = "index.csv";
};

inline DatasetInputs dataset_inputs(const Args& a) {
  using namespace r2plus1d;
  DatasetInputs d;
  d.all = extract::expand_inputs(a.inputs);
  if (d.all.empty()) throw IoError("no videos to run: the given directories hold no video files");
  d.shard = a.shard.empty() ? "" : extract::resolve_shard(a.shard, a.shard_count);
  if (!d.shard.empty()) {
    const auto [k, n] = extract::parse_shard(d.shard);
    std::vector<extract::Input> mine;
    for (std::size_t i = static_cast<std::size_t>(k); i < d.all.size(); i += static_cast<std::size_t>(n))
      mine.push_back(d.all[i]);
    d.all.swap(mine);
    d.index_name = "index." + std::to_string(k) + "-of-" + std::to_string(n) + ".csv";
  }
  return d;
}

// The options of a dataset run that go together, checked before any input runs.
inline void check_dataset_options(const Args& a, const std::vector<extract::Input>& all) {
  using namespace r2plus1d;
  if (!a.output.empty() && !a.output_dir.empty())
    throw OptionError("--output and --output-dir: give one (--output takes the features of one input, --output-dir "
                      "one file per input and the index)");
  if (a.labelled) {
    if (a.output_dir.empty())
      throw OptionError("--labels evaluates the scores of an --output-dir run; give --output-dir");
    const extract::LabelMap labels(*a.labelled);
    for (const auto& in : all) labels.label(in.path, a.labels);  // every input has a label, before any runs
  }
  if (!a.output.empty() && all.size() != 1)
    throw OptionError("--output takes the features of one input, got " + std::to_string(all.size()) +
                      " inputs; use --output-dir");
}

// What a dataset run keeps from one input to the next.
struct DatasetRun {
  Stats st;
  std::size_t done = 0, skipped = 0, failed = 0;
  std::map<std::string, std::string> owner;  // output -> input
  std::vector<std::string> names;            // the output names of this run's inputs, for a shard's index
};

// Whether the input whose output is `out` is skipped: its output is there
// (without --overwrite). Says so, or that an unfinished one is computed again.
inline bool skip_input(const Args& a, const std::string& input, const std::string& out, bool ledger,
                       extract::Ledger::State state, extract::Progress& progress) {
  if (!a.overwrite && (state == extract::Ledger::State::done ||
                       (!ledger && !out.empty() && std::filesystem::exists(out)))) {
    if (!a.quiet)
      progress.message(std::string(kTool) + ": skipped '" + input + "': '" + out +
                       "' exists (--overwrite recomputes it)");
    return true;
  }
  if (!a.overwrite && state == extract::Ledger::State::foreign) {
    if (!a.quiet)
      progress.message(std::string(kTool) + ": skipped '" + input + "': '" + out +
                       "' exists but has no index rows, so it is kept (--overwrite replaces it)");
    return true;
  }
  if (state == extract::Ledger::State::unfinished && !a.quiet)
    progress.message(std::string(kTool) + ": note: '" + input + "': computing '" + out +
                     "' again: an earlier run stopped before its index rows were stored");
  return false;
}

// The rows of one input, (clips, D), and their index records; with
// --video-level the one row of the video and one record spanning its clips.
inline r2plus1d::Tensor<float, 2> input_rows(const Args& a, const ForwardFn& forward, const std::string& input,
                                             DatasetRun& run, std::vector<extract::ClipRecord>& records,
                                             extract::Progress& progress) {
  using namespace r2plus1d;
  const bool scores = a.logits || a.topk > 0;
  Tensor<float, 2> y = extract::is_npy_name(input)
                           ? run_npy(input, a, forward, run.st, records)
                           : run_video_file(input, a, forward, run.st, records, progress,
                                            run.done + run.skipped + run.failed);
  if (a.video_level) {
    // One row per video, and one index row: the start of its first clip, the end of its last.
    y = io::average_clips(y, scores);
    extract::ClipRecord whole = records.front();
    for (const auto& r : records)
      if (r.end_frame > whole.end_frame) whole.end_frame = r.end_frame, whole.end_time = r.end_time;
    records.assign(1, whole);
  }
  return y;
}

// Writes the rows `y` of `input` to `out` (its output `name` in the directory
// of `ledger`, when there is one), or prints them; --topk prints them too.
inline void store_rows(const Args& a, const std::string& input, const std::string& out, const std::string& name,
                       const r2plus1d::Tensor<float, 2>& y, const std::vector<extract::ClipRecord>& records,
                       extract::Ledger* ledger, extract::Progress& progress) {
  const bool scores = a.logits || a.topk > 0;
  extract::OutputRows rows_out = output_rows(a, input);
  rows_out.records = records;
  if (ledger) {
    // The rows first (staged), then the output, then the rows committed: an output counts as done only with its rows.
    extract::make_parent_dirs(out);
    const std::string staged = ledger->stage(name, extract::index_rows(input, out, records));
    try {
      extract::write_output(out, y, rows_out);
    } catch (...) {
      std::error_code ec;
      std::filesystem::remove(staged, ec);
      throw;
    }
    ledger->commit(staged, name);
  } else if (!out.empty()) {
    extract::write_output(out, y, rows_out);
  } else {
    progress.clear();
    if (a.topk == 0)
      print_summary(y, scores ? (a.video_level ? "mean class probabilities" : "class scores") : "features",
                    input + " ", a.video_level);
  }
  if (a.topk > 0) {
    progress.clear();
    print_topk(y, a.topk, input + " ", a.video_level);
  }
  std::fflush(stdout);
}

// One input of a dataset run: skipped when its output is there, else run and
// its rows stored. Errors go to the caller, which counts the input failed.
inline void run_input(const Args& a, const ForwardFn& forward, const extract::Input& in, extract::Ledger* ledger,
                      DatasetRun& run, extract::Progress& progress) {
  using namespace r2plus1d;
  const std::string& input = in.path;
  std::string out = a.output, name;
  if (ledger) {
    name = output_name(in, a.format);
    out = ledger->output_path(name);
  }
  if (!out.empty()) {
    const auto [it, fresh] = run.owner.emplace(out, input);
    if (!fresh)
      throw IoError("'" + input + "': its output '" + out + "' is also that of '" + it->second +
                    "'; give them different names");
  }
  const auto state = ledger ? ledger->state(name) : extract::Ledger::State::absent;
  if (ledger) run.names.push_back(name);
  if (skip_input(a, input, out, ledger != nullptr, state, progress)) {
    ++run.skipped;
    return;
  }
  std::vector<extract::ClipRecord> records;
  const Tensor<float, 2> y = input_rows(a, forward, input, run, records, progress);
  store_rows(a, input, out, name, y, records, ledger, progress);
  ++run.done;
}

// The closing summary of a dataset run on stderr, and its warning about damaged videos.
inline void print_run_summary(const Args& a, const DatasetRun& run, std::size_t inputs, double secs, bool index_ok,
                              std::size_t rows, const std::string& index_path) {
  using namespace r2plus1d;
  const Stats& st = run.st;
  if (!a.quiet) {
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "%s: %zu input(s): %zu done, %zu skipped, %zu failed; %lld clip(s) in %.2f s (%.2f clips/s); "
                  "decode+preprocess %.1f frames/s, network %.2f clips/s (%d thread(s))",
                  kTool, inputs, run.done, run.skipped, run.failed, static_cast<long long>(st.clips), secs,
                  secs > 0 ? static_cast<double>(st.clips) / secs : 0.0,
                  st.decode_s > 0 ? static_cast<double>(st.frames) / st.decode_s : 0.0,
                  st.net_s > 0 ? static_cast<double>(st.clips) / st.net_s : 0.0, get_num_threads());
    std::fprintf(stderr, "%s\n", buf);
    if (index_ok && rows > 0) std::fprintf(stderr, "%s: index of the clips: %s\n", kTool, index_path.c_str());
  }
  if (st.damaged > 0)
    std::fprintf(stderr, "%s: warning: %zu video(s) truncated or damaged, run on the frames that decoded (named above; "
                 "--strict makes them errors)\n", kTool, st.damaged);
}

// The inputs of a dataset run (videos, .npy files), one after another: their
// outputs and the index in --output-dir, or the one --output, or a summary.
inline int run_dataset(const Args& a, const ForwardFn& forward) {
  const DatasetInputs d = dataset_inputs(a);
  const std::vector<extract::Input>& all = d.all;
  check_dataset_options(a, all);

  extract::Progress progress(!a.quiet, isatty(STDERR_FILENO) != 0, all.size());
  // The directory is made, found writable, locked and its settings checked before any input runs.
  std::optional<extract::OutputDir> dir;
  std::optional<extract::Ledger> ledger;
  const std::string index_path = (std::filesystem::path(a.output_dir) / d.index_name).string();
  if (!a.output_dir.empty()) {
    dir.emplace(a.output_dir, d.index_name);
    if (dir->check_settings(settings_of(a), a.overwrite) && !a.quiet)
      progress.message(std::string(kTool) + ": note: --output-dir '" + a.output_dir +
                       "': new settings recorded (--overwrite); outputs there of inputs not run now keep the old ones");
    ledger.emplace(a.output_dir, dir->meta("rows"));
    ledger->adopt(index_path);
  }

  DatasetRun run;
  for (const auto& in : all) {
    const std::string& input = in.path;
    try {
      run_input(a, forward, in, ledger ? &*ledger : nullptr, run, progress);
    } catch (const std::bad_alloc&) {
      ++run.failed;
      progress.message(std::string(kTool) + ": error: '" + input + "': out of memory");
    } catch (const std::exception& e) {
      ++run.failed;
      const std::string msg = e.what();
      progress.message(std::string(kTool) + ": error: " + (msg.find(input) == std::string::npos ? "'" + input + "': " : "") + msg);
    }
    progress.update(run.done + run.skipped + run.failed, run.st.clips, 0, 0);
  }
  // The index is rebuilt from the rows of each output: those of a shard's inputs, or all the directory's.
  bool index_ok = true;
  std::size_t rows = 0;
  if (ledger) {
    try {
      rows = ledger->write_index(index_path, d.shard.empty() ? nullptr : &run.names);
    } catch (const std::exception& e) {
      index_ok = false;
      progress.message(std::string(kTool) + ": error: index: " + e.what() +
                       "; the outputs written are kept, and the next run writes the index");
    }
  }
  progress.clear();
  print_run_summary(a, run, all.size(), progress.elapsed(), index_ok, rows, index_path);
  if (a.labelled && ledger) {
    std::vector<std::string> outs;
    for (const auto& in : all) outs.push_back(output_name(in, a.format));
    evaluate(a, all, outs, *ledger,
             d.shard.empty() ? "evaluation.json"
                             : "evaluation." + d.index_name.substr(6, d.index_name.size() - 10) + ".json");
  }
  if (!index_ok) return 1;
  return run.failed > 0 ? kSomeFailed : 0;
}

}  // namespace extract
