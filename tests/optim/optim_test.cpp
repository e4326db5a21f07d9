// optim: SGD, AdamW, StepLR, CosineAnnealingLR and clip_grad_norm_ against
// torch.optim (tests/reference/gen_optim.py), and optimizer state that resumes a
// run bit for bit.
//
// Tolerances, max |ours - torch| relative to max |torch| of each tensor:
// float 1e-6, double 1e-12 (torch's kernels fuse some multiply-adds ours may
// not, and reduce in another order). The learning rates must be equal.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <r2plus1d/io/safetensors.hpp>
#include <r2plus1d/models/r2plus1d_classifier.hpp>
#include <r2plus1d/nn/linear.hpp>
#include <r2plus1d/optim/adamw.hpp>
#include <r2plus1d/optim/clip_grad.hpp>
#include <r2plus1d/optim/lr_scheduler.hpp>
#include <r2plus1d/optim/sgd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "optim_reference.hpp"

namespace r2plus1d {
namespace {

using json = nlohmann::json;

template <class T>
class OptimParity : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(OptimParity, Scalars);

optim::SGDOptions sgd_options(const json& o) {
  return optim::SGDOptions(o.at("lr"))
      .momentum(o.value("momentum", 0.0))
      .dampening(o.value("dampening", 0.0))
      .weight_decay(o.value("weight_decay", 0.0))
      .nesterov(o.value("nesterov", false));
}

optim::AdamWOptions adamw_options(const json& o) {
  return optim::AdamWOptions(o.at("lr"))
      .betas(o.at("betas").at(0), o.at("betas").at(1))
      .eps(o.at("eps"))
      .weight_decay(o.at("weight_decay"))
      .amsgrad(o.value("amsgrad", false));
}

// Sets the gradients of step `step` (freeing those the case leaves None), steps
// the optimizer and compares the parameters with torch's.
template <class T, class Opt>
void replay(const test::OptimReference& ref, const json& c, nn::Linear<T>& m, Opt& opt) {
  const std::string name = c.at("name");
  for (int step = 0; step < ref.steps(); ++step) {
    for (const char* p : {"weight", "bias"}) {
      const bool none = std::find(c.at("none_at").begin(), c.at("none_at").end(), json::array({step, p})) !=
                        c.at("none_at").end();
      const std::string g = name + ".grad." + std::to_string(step) + "." + p;
      if (std::string(p) == "weight") {
        if (none) m.weight_parameter().zero_grad(true);
        else m.weight_grad() = ref.tensor<T, 2>(g);
      } else {
        if (none) m.bias_parameter().zero_grad(true);
        else m.bias_grad() = ref.tensor<T, 1>(g);
      }
    }
    opt.step();
    const std::string after = name + ".after_" + test::OptimReference::suffix<T>() + "." + std::to_string(step) + ".";
    EXPECT_TRUE((test::close_to_torch<T, 2>(m.weight().cview(), ref.tensor<T, 2>(after + "weight").cview(),
                                           name + " step " + std::to_string(step) + " weight")));
    EXPECT_TRUE((test::close_to_torch<T, 1>(m.bias().cview(), ref.tensor<T, 1>(after + "bias").cview(),
                                           name + " step " + std::to_string(step) + " bias")));
  }
  EXPECT_EQ(opt.step_count(), ref.steps());
}

TYPED_TEST(OptimParity, OptimizersMatchTorchStepByStep) {
  using T = TypeParam;
  const test::OptimReference ref;
  ASSERT_GE(ref.list("optimizers").size(), 7u);
  for (const json& c : ref.list("optimizers")) {
    const std::string name = c.at("name");
    nn::Linear<T> m(nn::LinearOptions(4, 3));
    m.weight() = ref.tensor<T, 2>(name + ".init.weight");
    m.bias() = ref.tensor<T, 1>(name + ".init.bias");
    if (c.at("kind") == "SGD") {
      optim::SGD<T> opt(m.template trainable_parameters<T>(), sgd_options(c.at("options")));
      replay(ref, c, m, opt);
    } else {
      optim::AdamW<T> opt(m.template trainable_parameters<T>(), adamw_options(c.at("options")));
      replay(ref, c, m, opt);
    }
  }
}

// The optimizer's lr after construction and after each of 20 epochs.
template <class Sched>
std::vector<double> lrs_of(optim::Optimizer<double>& opt, Sched& sched) {
  std::vector<double> lrs{opt.lr()};
  for (int e = 0; e < 20; ++e) {
    sched.step();
    lrs.push_back(opt.lr());
  }
  return lrs;
}

TEST(LRScheduler, StepAndCosineMatchTorchExactly) {
  const test::OptimReference ref;
  ASSERT_EQ(ref.list("schedulers").size(), 3u);
  for (const json& c : ref.list("schedulers")) {
    const std::string name = c.at("name");
    nn::Linear<double> m(nn::LinearOptions(1, 1));
    optim::SGD<double> opt(m.trainable_parameters<double>(), optim::SGDOptions(c.at("lr")));
    const json& o = c.at("options");
    std::vector<double> lrs;
    if (c.at("kind") == "StepLR") {
      optim::StepLR sched(opt, o.at("step_size"), o.at("gamma"));
      lrs = lrs_of(opt, sched);
      EXPECT_EQ(sched.last_epoch(), 20) << name;
      EXPECT_EQ(sched.last_lr(), lrs.back()) << name;
    } else {
      optim::CosineAnnealingLR sched(opt, o.at("T_max"), o.at("eta_min"));
      lrs = lrs_of(opt, sched);
      EXPECT_EQ(sched.base_lr(), lrs.front()) << name;
    }
    const Tensor<double, 1> torch_lrs = ref.tensor<double, 1>(name + ".lrs");
    ASSERT_EQ(torch_lrs.numel(), 21) << name;
    for (index_t e = 0; e < 21; ++e) EXPECT_EQ(lrs[static_cast<std::size_t>(e)], torch_lrs(e)) << name << " epoch " << e;
  }
  nn::Linear<double> m(nn::LinearOptions(1, 1));
  optim::SGD<double> opt(m.trainable_parameters<double>(), optim::SGDOptions(0.1));
  EXPECT_THROW(optim::StepLR(opt, 0), OptionError);
  EXPECT_THROW(optim::CosineAnnealingLR(opt, 0), OptionError);
}

// 7 epochs, the optimizer and scheduler saved and loaded into fresh ones, 13
// more: torch's 20 lrs, as without the interruption.
template <class Sched, class... Args>
void check_schedule_resumes(const test::OptimReference& ref, const std::string& name, double lr, Args... args) {
  const std::string opt_file = ::testing::TempDir() + "optim_sched_opt.safetensors";
  const std::string sched_file = ::testing::TempDir() + "optim_sched.safetensors";
  nn::Linear<double> m(nn::LinearOptions(1, 1));
  std::vector<double> lrs;
  {
    optim::SGD<double> opt(m.trainable_parameters<double>(), optim::SGDOptions(lr));
    Sched sched(opt, args...);
    lrs.push_back(opt.lr());
    for (int e = 0; e < 7; ++e) {
      sched.step();
      lrs.push_back(opt.lr());
    }
    opt.save(opt_file);
    sched.save(sched_file);
  }
  optim::SGD<double> opt(m.trainable_parameters<double>(), optim::SGDOptions(lr));
  Sched sched(opt, args...);
  sched.step();  // a fresh scheduler's first epoch, undone by the loads
  opt.load(opt_file);
  sched.load(sched_file);
  EXPECT_EQ(sched.last_epoch(), 7);
  for (int e = 7; e < 20; ++e) {
    sched.step();
    lrs.push_back(opt.lr());
  }
  const Tensor<double, 1> torch_lrs = ref.tensor<double, 1>(name + ".lrs");
  for (index_t e = 0; e < 21; ++e) EXPECT_EQ(lrs[static_cast<std::size_t>(e)], torch_lrs(e)) << name << " epoch " << e;
  std::remove(opt_file.c_str());
  std::remove(sched_file.c_str());
}

TEST(LRScheduler, ResumesFromSavedState) {
  const test::OptimReference ref;
  check_schedule_resumes<optim::StepLR<double>>(ref, "step_lr", 0.1, std::int64_t{3}, 0.5);
  check_schedule_resumes<optim::CosineAnnealingLR<double>>(ref, "cosine_6", 0.1, std::int64_t{6}, 0.001);
  nn::Linear<double> m(nn::LinearOptions(1, 1));
  optim::SGD<double> opt(m.trainable_parameters<double>(), optim::SGDOptions(0.1));
  optim::StepLR<double> step(opt, 2);
  const std::string file = ::testing::TempDir() + "optim_sched_kind.safetensors";
  step.save(file);
  optim::CosineAnnealingLR<double> cosine(opt, 4);
  EXPECT_THROW(cosine.load(file), StateDictError);
  std::remove(file.c_str());
}

TYPED_TEST(OptimParity, ClipGradNormMatchesTorch) {
  using T = TypeParam;
  const test::OptimReference ref;
  ASSERT_EQ(ref.list("clips").size(), 4u);
  for (const json& c : ref.list("clips")) {
    const std::string name = c.at("name");
    nn::Linear<T> m(nn::LinearOptions(4, 3));
    m.weight_grad() = ref.tensor<T, 2>(name + ".grad.weight");
    m.bias_grad() = ref.tensor<T, 1>(name + ".grad.bias");
    const double norm_type = c.at("norm_type").is_string() ? std::numeric_limits<double>::infinity()
                                                           : c.at("norm_type").get<double>();
    const T total = optim::clip_grad_norm_(m.template trainable_parameters<T>(), c.at("max_norm"), norm_type);
    const std::string s = test::OptimReference::suffix<T>();
    const Tensor<T, 1> torch_total = ref.tensor<T, 1>(name + ".total_" + s);
    const Tensor<T, 1> ours(Shape<1>{1}, total);
    EXPECT_TRUE((test::close_to_torch<T, 1>(ours.cview(), torch_total.cview(), name + " total norm")));
    EXPECT_TRUE((test::close_to_torch<T, 2>(m.weight_grad().cview(),
                                           ref.tensor<T, 2>(name + ".clipped_" + s + ".weight").cview(),
                                           name + " weight grad")));
    EXPECT_TRUE((test::close_to_torch<T, 1>(m.bias_grad().cview(),
                                           ref.tensor<T, 1>(name + ".clipped_" + s + ".bias").cview(),
                                           name + " bias grad")));
  }
}

TEST(ClipGradNorm, NoGradientsAndBadNormType) {
  nn::Linear<float> m(nn::LinearOptions(2, 2));
  EXPECT_EQ(optim::clip_grad_norm_(m.trainable_parameters<float>(), 1.0), 0.0f);
  EXPECT_FALSE(m.weight_parameter().has_grad());
  EXPECT_THROW(optim::clip_grad_norm_(m.trainable_parameters<float>(), 1.0, 0.0), OptionError);
}

// Sets every parameter's gradient to a fixed function of the step.
template <class T>
void set_grads(nn::Linear<T>& m, int step) {
  Tensor<T, 2>& gw = m.weight_grad();
  for (index_t i = 0; i < gw.numel(); ++i) gw.data()[i] = static_cast<T>(std::sin(0.7 * (i + 1) * (step + 1)));
  Tensor<T, 1>& gb = m.bias_grad();
  for (index_t i = 0; i < gb.numel(); ++i) gb.data()[i] = static_cast<T>(std::cos(1.3 * (i + 2) * (step + 1)));
}

template <class T>
bool same_bits(const Tensor<T, 2>& a, const Tensor<T, 2>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(T) * static_cast<std::size_t>(a.numel())) == 0;
}

// N steps, save, load into a fresh optimizer over a copy of the parameters,
// M more steps on both: the same bits as N + M uninterrupted steps.
template <class T, class Opt, class Options>
void check_resume(const Options& options, const std::string& file) {
  constexpr int kN = 4, kM = 3;
  nn::Linear<T> a(nn::LinearOptions(5, 3));
  Opt opt_a(a.template trainable_parameters<T>(), options);
  for (int s = 0; s < kN; ++s) {
    set_grads(a, s);
    opt_a.step();
    if (s == 1) opt_a.set_lr(opt_a.lr() * 0.5);  // as a scheduler would
  }
  opt_a.save(file);
  nn::Linear<T> b(nn::LinearOptions(5, 3));
  b.weight() = a.weight();
  b.bias() = a.bias();
  Opt opt_b(b.template trainable_parameters<T>(), options);
  opt_b.load(file);
  EXPECT_EQ(opt_b.lr(), opt_a.lr());
  EXPECT_EQ(opt_b.step_count(), kN);
  for (int s = kN; s < kN + kM; ++s) {
    set_grads(a, s);
    set_grads(b, s);
    opt_a.step();
    opt_b.step();
  }
  EXPECT_TRUE(same_bits(a.weight(), b.weight()));
  EXPECT_TRUE(std::memcmp(a.bias().data(), b.bias().data(), sizeof(T) * 3) == 0);
  std::remove(file.c_str());
}

TEST(OptimizerState, ResumesBitForBit) {
  const std::string dir = ::testing::TempDir();
  check_resume<float, optim::SGD<float>>(optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(1e-3),
                                         dir + "optim_resume_sgd.safetensors");
  check_resume<double, optim::SGD<double>>(optim::SGDOptions(0.1).momentum(0.5).dampening(0.1),
                                           dir + "optim_resume_sgd64.safetensors");
  check_resume<float, optim::AdamW<float>>(optim::AdamWOptions(1e-2).amsgrad(true),
                                           dir + "optim_resume_adamw.safetensors");
  check_resume<double, optim::AdamW<double>>(optim::AdamWOptions(3e-3).weight_decay(0.1),
                                             dir + "optim_resume_adamw64.safetensors");
}

TEST(OptimizerState, FileKeysAndMismatches) {
  const std::string file = ::testing::TempDir() + "optim_keys.safetensors";
  nn::Linear<float> m(nn::LinearOptions(2, 2));
  optim::AdamW<float> adamw(m.trainable_parameters<float>(), optim::AdamWOptions(1e-3).amsgrad(true));
  set_grads(m, 0);
  adamw.step();
  adamw.save(file);
  {
    const io::SafetensorsReader r(file);
    std::vector<std::string> keys;
    for (const TensorInfo& i : r.infos()) keys.push_back(i.name);
    std::sort(keys.begin(), keys.end());
    EXPECT_EQ(keys, (std::vector<std::string>{"lr", "state.bias.exp_avg", "state.bias.exp_avg_sq",
                                              "state.bias.max_exp_avg_sq", "state.bias.step", "state.weight.exp_avg",
                                              "state.weight.exp_avg_sq", "state.weight.max_exp_avg_sq",
                                              "state.weight.step", "step"}));
    EXPECT_EQ(r.info("state.weight.exp_avg").shape, (std::vector<index_t>{2, 2}));
    EXPECT_EQ(r.metadata().at("optimizer"), "AdamW");
  }
  optim::SGD<float> sgd(m.trainable_parameters<float>(), optim::SGDOptions(0.1));
  EXPECT_THROW(sgd.load(file), StateDictError);  // another kind
  nn::Linear<float> other(nn::LinearOptions(3, 2));
  optim::AdamW<float> wrong_shape(other.trainable_parameters<float>(), optim::AdamWOptions());
  EXPECT_THROW(wrong_shape.load(file), StateDictError);
  EXPECT_FALSE(wrong_shape.state(0).step != 0);
  m.freeze("bias");
  optim::AdamW<float> fewer(m.trainable_parameters<float>(), optim::AdamWOptions());
  EXPECT_THROW(fewer.load(file), StateDictError);  // state of a parameter it does not hold
  std::remove(file.c_str());
}

TEST(Optimizer, OptionChecks) {
  nn::Linear<float> m(nn::LinearOptions(2, 2));
  auto params = m.trainable_parameters<float>();
  EXPECT_THROW(optim::SGD<float>(params, optim::SGDOptions(-0.1)), OptionError);
  EXPECT_THROW(optim::SGD<float>(params, optim::SGDOptions(0.1).momentum(-1)), OptionError);
  EXPECT_THROW(optim::SGD<float>(params, optim::SGDOptions(0.1).nesterov(true)), OptionError);
  EXPECT_THROW(optim::SGD<float>(params, optim::SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)),
               OptionError);
  EXPECT_THROW(optim::SGD<float>({}, optim::SGDOptions(0.1)), OptionError);
  EXPECT_THROW(optim::SGD<float>({params[0], params[0]}, optim::SGDOptions(0.1)), OptionError);
  EXPECT_THROW(optim::AdamW<float>(params, optim::AdamWOptions().betas(0.9, 1.0)), OptionError);
  EXPECT_THROW(optim::AdamW<float>(params, optim::AdamWOptions().eps(-1)), OptionError);
  EXPECT_THROW(optim::AdamW<float>(params, optim::AdamWOptions().weight_decay(-1)), OptionError);
  optim::SGD<float> sgd(params, optim::SGDOptions(0.1));
  EXPECT_THROW(sgd.set_lr(std::nan("")), OptionError);
  EXPECT_EQ(sgd.lr(), 0.1);
}

TEST(Optimizer, SkipsParametersWithoutGradientAndZeroGrad) {
  nn::Linear<float> m(nn::LinearOptions(2, 2));
  const Tensor<float, 1> bias = m.bias();
  optim::SGD<float> sgd(m.trainable_parameters<float>(), optim::SGDOptions(0.5).momentum(0.9));
  m.weight_grad().fill(1.0f);
  const Tensor<float, 2> w0 = m.weight();
  sgd.step();
  EXPECT_FLOAT_EQ(m.weight()(0, 0), w0(0, 0) - 0.5f);
  EXPECT_TRUE(std::memcmp(m.bias().data(), bias.data(), sizeof(float) * 2) == 0);
  EXPECT_FALSE(m.bias_parameter().has_grad());
  EXPECT_EQ(sgd.state(1).buffers.size(), 0u);
  sgd.zero_grad();
  EXPECT_TRUE(m.weight_parameter().has_grad());
  EXPECT_EQ(m.weight_grad()(1, 1), 0.0f);
  sgd.zero_grad(true);
  EXPECT_FALSE(m.weight_parameter().has_grad());
}

TEST(Optimizer, FineTunesTheUnfrozenPartOfAModel) {
  R2Plus1DClassifier<float> model(10, {1, 1, 1, 1});
  const std::size_t all = model.named_parameters().size();
  model.freeze("res2plus1d").unfreeze("res2plus1d.conv5.");
  const auto params = model.trainable_parameters<float>();
  std::size_t conv5 = 0;
  for (const auto& p : params) {
    EXPECT_TRUE(p.name.rfind("res2plus1d.conv5.", 0) == 0 || p.name.rfind("linear.", 0) == 0) << p.name;
    conv5 += p.name.rfind("res2plus1d.conv5.", 0) == 0;
  }
  EXPECT_EQ(conv5, 24u);
  EXPECT_EQ(params.size(), 26u);
  EXPECT_LT(params.size(), all);
  // Every parameter gets a gradient; AdamW moves only the trainable ones, and
  // its state names them.
  model.for_each_parameter([](const std::string&, auto& p) { p.grad().fill(0.5f); });
  const TensorRef stem_ref = model.state_dict().at("res2plus1d.conv1.spatial_conv.weight");
  const std::vector<float> stem_before(stem_ref.data_as<float>(), stem_ref.data_as<float>() + stem_ref.numel());
  const float head_before = model.linear().weight()(0, 0);
  optim::AdamW<float> adamw(params, optim::AdamWOptions(1e-3));
  adamw.step();
  EXPECT_TRUE(std::equal(stem_before.begin(), stem_before.end(), stem_ref.data_as<float>()));
  EXPECT_NE(model.linear().weight()(0, 0), head_before);
  EXPECT_EQ(adamw.state(0).step, 1);
  const std::string file = ::testing::TempDir() + "optim_finetune.safetensors";
  adamw.save(file);
  EXPECT_TRUE(io::SafetensorsReader(file).contains("state.linear.weight.exp_avg_sq"));
  EXPECT_FALSE(io::SafetensorsReader(file).contains("state.res2plus1d.conv1.spatial_conv.weight.exp_avg"));
  std::remove(file.c_str());
}

}  // namespace
}  // namespace r2plus1d
