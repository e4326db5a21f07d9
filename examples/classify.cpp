// r2plus1d-classify VIDEO WEIGHTS: the 5 most likely Kinetics-400 classes of
// the first 16 frames of a video, with r2plus1d_18 and torchvision's preset.
#include <r2plus1d/io/video.hpp>
#include <r2plus1d/r2plus1d.hpp>

#include <iostream>

int main(int argc, char** argv) try {
  using namespace r2plus1d;
  if (argc != 3) throw OptionError("usage: r2plus1d-classify VIDEO WEIGHTS.safetensors");
  auto model = video::r2plus1d_18<float>(argv[2]);                    // strict load, eval mode
  auto frames = io::read_video(argv[1]);                              // (T, H, W, 3) uint8 RGB
  auto clip = io::VideoClassification()(frames.narrow(0, 0, 16));     // (3, 16, 112, 112)
  auto [probs, classes] = ops::topk(ops::softmax(model(clip.unsqueeze(0)), 1), 5);
  for (index_t k = 0; k < 5; ++k)
    std::cout << kKinetics400Categories.at(classes(0, k)) << ' ' << probs(0, k) << '\n';
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << '\n';
  return 1;
}
