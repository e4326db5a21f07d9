#pragma once
// How the command-line tools end a parse: --version and --help print to
// stdout and exit 0, a bad command line is one error line on stderr and exit 2.

#include <r2plus1d/r2plus1d.hpp>

#include <CLI/CLI.hpp>

#include <iostream>
#include <optional>

namespace cli {

/// Parses argv into `app`; the exit code when the tool should stop here, or
/// nothing when it should run.
inline std::optional<int> parse(CLI::App& app, int argc, char** argv, const char* tool) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForVersion&) {
    std::cout << tool << ' ' << r2plus1d::kVersion << '\n';
    return 0;
  } catch (const CLI::Success&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << tool << ": error: " << e.what() << " (see --help)\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace cli
