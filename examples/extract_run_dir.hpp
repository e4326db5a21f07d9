#pragma once
// r2plus1d-extract's output directory as the options name it: the output
// name of each input, the settings recorded there, the evaluation of the
// scores it holds (--labels), and --merge, which checks the directory of a
// sharded run once its shards have ended.

#include "extract_args.hpp"
#include "extract_eval.hpp"
#include "extract_files.hpp"
#include "extract_index.hpp"
#include "extract_inputs.hpp"
#include "extract_merge.hpp"
#include "extract_output_dir.hpp"
#include "extract_outputs.hpp"

#include <r2plus1d/r2plus1d.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

namespace extract {

// The name of the output of `in` in --output-dir: its name and the format's
// extension, or, where that would be the index's name, with the input's own
// extension kept before it ("index.mp4" -> "index.mp4.csv").
inline std::string output_name(const extract::Input& in, const std::string& format) {
  std::string name = in.name + "." + format;
  if (extract::OutputDir::reserved(name))
    name = in.name + std::filesystem::path(in.path).extension().string() + "." + format;
  if (extract::OutputDir::reserved(name))
    throw r2plus1d::IoError("'" + in.path + "': its output '" + name + "' would be one of the tool's own files in " +
                            extract::kMetaDir + "; rename the input or its folder");
  return name;
}

// What decides the outputs' contents, recorded in --output-dir.
inline extract::Settings settings_of(const Args& a) {
  const bool scores = a.logits || a.topk > 0;
  char fps[40] = "own";
  if (a.fps > 0) std::snprintf(fps, sizeof fps, "%.17g", a.fps);
  std::string weights_file = a.weights;
  std::replace(weights_file.begin(), weights_file.end(), '\n', ' ');
  return {{"arch", a.arch},
          {"layers", a.arch == "seed" ? layers_flag("seed", parse_layers(a.layers)).substr(10) : "unused"},
          {"weights", a.weights.empty() ? "random (--seed " + std::to_string(a.seed) + ")"
                                        : "fnv1a64 " + extract::file_fingerprint(a.weights)},
          {"weights-file", weights_file},
          {"logits", scores ? "yes" : "no"},
          {"num-classes", a.weights.empty() && scores ? std::to_string(a.num_classes > 0 ? a.num_classes : 400)
                                                      : "unused"},
          {"clip-len", std::to_string(a.clip_len)},
          {"step", a.clips_per_video > 0 ? "unused" : std::to_string(a.step)},
          {"fps", fps},
          {"clips-per-video", a.clips_per_video > 0 ? std::to_string(a.clips_per_video) : "unused"},
          {"crops", std::to_string(a.crops)},
          {"video-level", a.video_level ? "yes" : "no"}};
}

// --labels: the accuracy of the scores the outputs `names` of `inputs` hold
// (those that exist with their rows), written to DIR/<file> and summarised.
inline void evaluate(const Args& a, const std::vector<extract::Input>& inputs, const std::vector<std::string>& names,
                     const extract::Ledger& ledger, const std::string& file) {
  const extract::LabelMap labels(*a.labelled);
  extract::Evaluation eval(labels.num_classes(), labels.classes());
  r2plus1d::index_t not_evaluated = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (names[i].empty() || ledger.state(names[i]) != extract::Ledger::State::done) {
      ++not_evaluated;
      continue;
    }
    eval.add(inputs[i].path, labels.label(inputs[i].path, a.labels),
             extract::load_scores(ledger.output_path(names[i]), a.format), a.video_level);
  }
  const std::string path = (std::filesystem::path(a.output_dir.empty() ? a.merge : a.output_dir) / file).string();
  nlohmann::json j = eval.json(not_evaluated);
  j["labels"] = a.labels;
  extract::write_file(path, j.dump(2) + "\n");
  std::cerr << kTool << ": evaluation: " << eval.summary()
            << (not_evaluated > 0 ? "; " + std::to_string(not_evaluated) + " input(s) without scores left out" : "")
            << "; written to " << path << "\n";
}

// --merge DIR: checks the outputs of a sharded run over the given inputs and
// writes its index.csv (see extract_merge.hpp).
inline int run_merge(const Args& a) {
  using namespace r2plus1d;
  if (!a.output_dir.empty() || !a.output.empty())
    throw OptionError("--merge DIR names the output directory itself; leave out --output-dir and --output");
  if (!a.shard.empty()) throw OptionError("--merge checks every shard at once; leave out --shard");
  std::vector<std::string> given = a.inputs;
  if (given.empty() && !a.input.empty()) given.push_back(a.input);
  if (given.empty())
    throw OptionError("--merge '" + a.merge + "': give the run's inputs (--input-list FILE, or the paths) to check "
                      "the directory against");
  const std::vector<extract::Input> inputs = extract::expand_inputs(given);
  const extract::MergeReport rep = extract::merge_output_dir(
      a.merge, inputs, [&](const extract::Input& in) { return output_name(in, a.format); }, a.format);
  if (a.labelled) {
    std::vector<std::string> names;
    std::set<std::string> complete(rep.complete.begin(), rep.complete.end());
    for (const auto& in : inputs) {
      const std::string name = output_name(in, a.format);
      names.push_back(complete.count(name) ? name : "");
    }
    const extract::OutputDir dir(a.merge, "index.csv");
    evaluate(a, inputs, names, extract::Ledger(a.merge, dir.meta("rows")), "evaluation.json");
  }
  for (const auto& [path, why] : rep.missing) std::cerr << kTool << ": missing: '" << path << "': " << why << "\n";
  for (const auto& [path, why] : rep.failed) std::cerr << kTool << ": failed: '" << path << "': " << why << "\n";
  const std::size_t left = rep.missing.size() + rep.failed.size();
  if (!a.quiet) {
    std::cerr << kTool << ": merged '" << a.merge << "': " << rep.inputs << " input(s): " << rep.complete.size()
              << " complete, " << rep.missing.size() << " missing, " << rep.failed.size() << " failed; "
              << rep.shard_indexes.size() << " shard index(es) found; index.csv has " << rep.rows << " row(s)\n";
    if (left > 0)
      std::cerr << kTool << ": the " << left << " input(s) to run again are listed in '"
                << (std::filesystem::path(a.merge) / extract::kIncompleteList).string()
                << "' (give it as --input-list to the same command, with --overwrite to replace the failed outputs)\n";
  }
  return left == 0 ? 0 : kSomeFailed;
}

}  // namespace extract
