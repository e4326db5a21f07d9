// The files README.md's C++ snippets read, written with the library itself
// into the directory argv[1] (tests/package/readme_snippets.py runs the
// snippets there): r2plus1d.safetensors (a seeded R2Plus1DNet({2, 2, 2, 2})),
// r2plus1d_18.safetensors (a seeded video::r2plus1d_18, 400 classes) and
// clips.npy (a (1, 3, 8, 112, 112) float clip).

#include <r2plus1d/r2plus1d.hpp>

#include <cmath>
#include <exception>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  using namespace r2plus1d;
  if (argc != 2) {
    std::cerr << "usage: readme_snippet_files DIR\n";
    return 2;
  }
  const std::string dir = std::string(argv[1]) + "/";
  try {
    Generator gen(11);
    R2Plus1DNet<float> net({2, 2, 2, 2}, gen);
    io::save_safetensors(dir + "r2plus1d.safetensors", net.state_dict());
    auto model = video::r2plus1d_18<float>(400, gen);
    io::save_safetensors(dir + "r2plus1d_18.safetensors", model.state_dict());
    Tensor<float, 5> clips({1, 3, 8, 112, 112});
    for (index_t i = 0; i < clips.numel(); ++i)
      clips.data()[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
    io::save_npy(dir + "clips.npy", clips);
  } catch (const std::exception& e) {
    std::cerr << "readme_snippet_files: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
