#pragma once
/// \file
/// Module<Derived>: the CRTP base every module derives from. A module lists its
/// children, parameters and buffers in one member template, in torch's
/// registration order:
///
///     template <class V> void visit(V& v) {
///       v.parameter("weight", weight_);   // own parameters first,
///       v.buffer("running_mean", mean_);  // then own buffers,
///       v.child("bn1", bn1_);             // then children, recursively
///     }
///
/// Parameters are nn::Parameter (a tensor and its lazily allocated gradient),
/// buffers plain tensors. From that one list the base derives train()/eval(),
/// named_parameters(), named_buffers(), state_dict() and load_state_dict(),
/// with torch's key names, and the training side: named_gradients(),
/// zero_grad(), requires_grad by name or prefix (freeze / unfreeze) and
/// trainable_parameters() for an optimizer.

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/state_dict.hpp"
#include "r2plus1d/core/tensor.hpp"
#include "r2plus1d/nn/parameter.hpp"

namespace r2plus1d::nn {

namespace detail {

template <class U, int R>
TensorRef ref_of(Tensor<U, R>& t) {
  return TensorRef{dtype_of<U>(), static_cast<void*>(t.data()), std::vector<index_t>(t.shape().begin(), t.shape().end())};
}

/// Collects (prefixed name, TensorRef) for parameters and/or buffers.
struct CollectVisitor {
  StateDict* out;
  bool parameters;
  bool buffers;
  std::string prefix;

  template <class M>
  void child(const std::string& name, M& m) {
    const std::size_t len = prefix.size();
    prefix += name;
    prefix += '.';
    m.visit(*this);
    prefix.resize(len);
  }
  template <class U, int R>
  void parameter(const char* name, Parameter<U, R>& p) {
    if (parameters) out->add(prefix + name, ref_of(p.value()));
  }
  template <class U, int R>
  void buffer(const char* name, Tensor<U, R>& t) {
    if (buffers) out->add(prefix + name, ref_of(t));
  }
};

/// Calls f(child) on every direct child (train, drop_saved and
/// set_checkpointing pass themselves down this way).
template <class F>
struct ChildVisitor {
  F f;
  template <class M>
  void child(const std::string&, M& m) {
    f(m);
  }
  template <class U, int R>
  void parameter(const char*, Parameter<U, R>&) {}
  template <class U, int R>
  void buffer(const char*, Tensor<U, R>&) {}
};
template <class F>
ChildVisitor(F) -> ChildVisitor<F>;

/// Whether module M keeps state of its own for backward (drop_own_saved),
/// whether it can keep transformed weights between calls
/// (set_own_weight_cache, clear_own_weight_cache), and whether it offers
/// checkpointing (set_own_checkpointing).
template <class M, class = void>
struct HasOwnSaved : std::false_type {};
template <class M>
struct HasOwnSaved<M, std::void_t<decltype(std::declval<M&>().drop_own_saved())>> : std::true_type {};
template <class M, class = void>
struct HasOwnWeightCache : std::false_type {};
template <class M>
struct HasOwnWeightCache<M, std::void_t<decltype(std::declval<M&>().set_own_weight_cache(true))>> : std::true_type {};
template <class M, class = void>
struct HasOwnCheckpointing : std::false_type {};
template <class M>
struct HasOwnCheckpointing<M, std::void_t<decltype(std::declval<M&>().set_own_checkpointing(true))>>
    : std::true_type {};

/// Calls f(prefixed name, parameter) for every parameter, in named_parameters() order.
template <class F>
struct ParameterVisitor {
  F* f;
  std::string prefix;

  template <class M>
  void child(const std::string& name, M& m) {
    const std::size_t len = prefix.size();
    prefix += name;
    prefix += '.';
    m.visit(*this);
    prefix.resize(len);
  }
  template <class U, int R>
  void parameter(const char* name, Parameter<U, R>& p) {
    (*f)(prefix + name, p);
  }
  template <class U, int R>
  void buffer(const char*, Tensor<U, R>&) {}
};

/// Whether `name` is `prefix` or lies under it: "fc" and "fc." both select
/// "fc.weight"; "layer1" does not select "layer10.0.weight".
inline bool name_under(const std::string& name, const std::string& prefix) {
  if (prefix.empty()) return true;
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  return name.size() == prefix.size() || prefix.back() == '.' || name[prefix.size()] == '.';
}

}  // namespace detail

/// Most keys of each kind (missing, unexpected, mismatched) that a
/// load_state_dict error names; it counts the rest.
inline constexpr std::size_t kMaxListedKeys = 5;

/// Loads `source` into `dst` by name. `source` is a StateDict, an
/// io::SafetensorsReader, or anything with `infos()` and `read(name, TensorRef)`.
/// Strict: every missing key, unexpected key and shape mismatch is gathered into
/// one StateDictError that counts each kind and names the first kMaxListedKeys
/// of it (with both shapes), e.g. "missing keys (335): 'a', ..., 'e' and 330
/// more". Element types convert (F16/BF16/F32/F64 to the module's scalar type,
/// integers to I64). Nothing is written unless the whole check passes.
template <class Source>
void load_state_dict_into(const StateDict& dst, const Source& source) {
  const std::vector<TensorInfo> infos = source.infos();
  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& e : dst) {
    auto it = std::find_if(infos.begin(), infos.end(), [&](const TensorInfo& i) { return i.name == e.name; });
    if (it == infos.end()) {
      missing.push_back(quote(e.name));
    } else if (it->shape != e.ref.shape) {
      mismatched.push_back(quote(e.name) + " has shape " + format_shape(it->shape) + ", expected " +
                           format_shape(e.ref.shape));
    } else if (!dtype_convertible(it->dtype, e.ref.dtype)) {
      mismatched.push_back(quote(e.name) + " has dtype " + dtype_name(it->dtype) + ", expected " +
                           dtype_name(e.ref.dtype));
    }
  }
  for (const auto& i : infos)
    if (!dst.contains(i.name)) unexpected.push_back(quote(i.name));
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg = "load_state_dict: state dict does not match the module";
    auto list = [&msg](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      msg += std::string("; ") + what + " (" + std::to_string(v.size()) + "): ";
      const std::size_t shown = std::min(v.size(), kMaxListedKeys);
      for (std::size_t k = 0; k < shown; ++k) msg += (k ? ", " : "") + v[k];
      if (shown < v.size()) msg += " and " + std::to_string(v.size() - shown) + " more";
    };
    list("missing keys", missing);
    list("unexpected keys", unexpected);
    list("mismatches", mismatched);
    throw StateDictError(msg);
  }
  for (const auto& e : dst) source.read(e.name, e.ref);
}

/// A tensor source restricted to the keys of `source` that start with `prefix`,
/// seen without the prefix: e.g. prefixed(reader, "res2plus1d.") loads an
/// R2Plus1DClassifier checkpoint's backbone into an R2Plus1DNet. `source` must
/// outlive the adapter.
template <class Source>
class PrefixedSource {
 public:
  /// The keys of `source` (kept by reference) that start with `prefix`.
  PrefixedSource(const Source& source, std::string prefix) : source_(&source), prefix_(std::move(prefix)) {}
  /// Name, dtype and shape of each such key, the prefix removed, in the source's order.
  std::vector<TensorInfo> infos() const {
    std::vector<TensorInfo> out;
    for (auto& i : source_->infos())
      if (i.name.compare(0, prefix_.size(), prefix_) == 0) out.push_back({i.name.substr(prefix_.size()), i.dtype, i.shape});
    return out;
  }
  /// Reads key prefix + `name` of the source into `dst`, as the source's read does.
  void read(const std::string& name, const TensorRef& dst) const { source_->read(prefix_ + name, dst); }

 private:
  const Source* source_;
  std::string prefix_;
};

/// See PrefixedSource.
template <class Source>
PrefixedSource<Source> prefixed(const Source& source, std::string prefix) {
  return PrefixedSource<Source>(source, std::move(prefix));
}

/// CRTP base of every module: training flag and the generic state walkers.
template <class Derived>
class Module {
 public:
  /// Sets training mode on this module and all children (BatchNorm uses batch statistics).
  Derived& train(bool on = true) {
    training_ = on;
    detail::ChildVisitor v{[on](auto& m) { m.train(on); }};
    self().visit(v);
    if constexpr (detail::HasOwnWeightCache<Derived>::value) self().clear_own_weight_cache();
    return self();
  }
  /// Sets evaluation mode (BatchNorm uses running statistics).
  Derived& eval() { return train(false); }
  /// Whether the module is in training mode (it is from construction, as in torch).
  bool is_training() const { return training_; }

  /// Parameters with torch's names and order (references into this module).
  StateDict named_parameters() & { return collect(true, false); }
  /// Buffers (running statistics) with torch's names and order.
  StateDict named_buffers() & { return collect(false, true); }
  /// Parameters and buffers, exactly the keys, shapes and order of torch's state_dict().
  StateDict state_dict() & { return collect(true, true); }
  // The three lists reference the module's tensors: taken from a temporary
  // module they would dangle once it is destroyed (at the end of the full
  // expression, before a range-for's body runs), so they do not compile.
  StateDict named_parameters() && = delete;
  StateDict named_buffers() && = delete;
  StateDict state_dict() && = delete;

  /// Strict load by name; see load_state_dict_into.
  template <class Source>
  void load_state_dict(const Source& source) {
    load_state_dict_into(state_dict(), source);
    clear_weight_cache();
  }

  /// Total number of parameter elements, as sum(p.numel() for p in m.parameters()).
  index_t num_parameters() {
    index_t n = 0;
    for (const auto& e : named_parameters()) n += e.ref.numel();
    return n;
  }

  /// Calls f(name, parameter) for every parameter (an nn::Parameter<U, R>&), with
  /// named_parameters()' names and order.
  template <class F>
  void for_each_parameter(F&& f) {
    detail::ParameterVisitor<std::remove_reference_t<F>> v{&f, std::string()};
    self().visit(v);
  }

  /// The gradients that exist, under their parameters' names and in
  /// named_parameters() order; a parameter without one (torch's `p.grad is
  /// None`) is left out. References into this module.
  StateDict named_gradients() & {
    StateDict out;
    for_each_parameter([&out](const std::string& name, auto& p) {
      if (p.has_grad()) out.add(name, detail::ref_of(p.grad()));
    });
    return out;
  }
  /// See named_parameters() &&.
  StateDict named_gradients() && = delete;

  /// Drops what the last forward_train of this module and its children kept
  /// for backward, as backward would: for a forward_train whose backward is
  /// not to run (backward then throws, as without a forward_train).
  void drop_saved() {
    detail::ChildVisitor v{[](auto& m) { m.drop_saved(); }};
    self().visit(v);
    if constexpr (detail::HasOwnSaved<Derived>::value) self().drop_own_saved();
  }

  /// Whether the (2+1)D convolution pairs of this module keep their weights'
  /// Winograd transforms from one eval-mode forward to the next
  /// (ops::Conv2plus1dWeightCache): r2plus1d_18's forward at batch 1 then
  /// skips their transforms, and its layer3 runs F(4x4, 3x3) instead of
  /// F(2x2, 3x3), for 93 MB more memory. Off by default. The cache
  /// knows the weights by address, not by value: train(), load_state_dict()
  /// and this call clear it; after writing into a weight in place in eval
  /// mode, call clear_weight_cache() (or this) before the next forward.
  Derived& set_weight_cache(bool on) {
    detail::ChildVisitor v{[on](auto& m) { m.set_weight_cache(on); }};
    self().visit(v);
    if constexpr (detail::HasOwnWeightCache<Derived>::value) self().set_own_weight_cache(on);
    return self();
  }
  /// Forgets every kept weight transform of this module (see set_weight_cache);
  /// the next forward transforms the weights as they are then.
  void clear_weight_cache() {
    detail::ChildVisitor v{[](auto& m) { m.clear_weight_cache(); }};
    self().visit(v);
    if constexpr (detail::HasOwnWeightCache<Derived>::value) self().clear_own_weight_cache();
  }

  /// Activation checkpointing (nn/checkpoint.hpp) in every residual block and
  /// network stem of this module: with it on, their forward_train keeps only
  /// their input, and their backward runs forward_train again (under a
  /// RecomputeGuard) before going back through it: the activations of one
  /// block at a time instead of all, for about a third more compute, with the
  /// same gradients and running statistics to the bit. Off by default, as in
  /// torch.
  Derived& set_checkpointing(bool on) {
    detail::ChildVisitor v{[on](auto& m) { m.set_checkpointing(on); }};
    self().visit(v);
    if constexpr (detail::HasOwnCheckpointing<Derived>::value) self().set_own_checkpointing(on);
    return self();
  }

  /// Zeroes every gradient in place, or frees them when `set_to_none`. The
  /// default is torch 1.13's (set_to_none=False); parameters without a gradient
  /// stay without.
  void zero_grad(bool set_to_none = false) {
    for_each_parameter([set_to_none](const std::string&, auto& p) { p.zero_grad(set_to_none); });
  }

  /// Sets requires_grad of the parameters called `prefix` or under it ("layer4."
  /// or "layer4", "fc.weight"; "" is every parameter). OptionError, changing
  /// nothing, when no parameter matches.
  Derived& set_requires_grad(const std::string& prefix, bool on) {
    bool any = false;
    for_each_parameter([&](const std::string& name, auto&) { any = any || detail::name_under(name, prefix); });
    if (!any) throw OptionError("set_requires_grad: no parameter is called or lies under " + quote(prefix));
    for_each_parameter([&](const std::string& name, auto& p) {
      if (detail::name_under(name, prefix)) p.set_requires_grad(on);
    });
    return self();
  }
  /// set_requires_grad(prefix, false): optimizers built afterwards leave those parameters out.
  Derived& freeze(const std::string& prefix) { return set_requires_grad(prefix, false); }
  /// set_requires_grad(prefix, true).
  Derived& unfreeze(const std::string& prefix) { return set_requires_grad(prefix, true); }
  /// requires_grad of the parameter called `name`; OptionError when there is none.
  bool requires_grad(const std::string& name) {
    int found = -1;
    for_each_parameter([&](const std::string& n, auto& p) {
      if (n == name) found = p.requires_grad() ? 1 : 0;
    });
    if (found < 0) throw OptionError("requires_grad: no parameter is called " + quote(name));
    return found == 1;
  }

  /// Whether any parameter has requires_grad (false for a module without
  /// parameters): whether backward has anything to compute in it.
  bool has_trainable_parameters() {
    bool any = false;
    for_each_parameter([&any](const std::string&, auto& p) { any = any || p.requires_grad(); });
    return any;
  }
  /// The parameters with requires_grad, named and in named_parameters() order:
  /// what an optimizer takes (as torch's `filter(lambda p: p.requires_grad,
  /// m.parameters())`). T is the modules' element type; another fails to compile.
  template <class T>
  std::vector<NamedParameter<T>> trainable_parameters() {
    std::vector<NamedParameter<T>> out;
    for_each_parameter([&out](const std::string& name, auto& p) {
      using P = std::remove_reference_t<decltype(p)>;
      static_assert(std::is_base_of_v<ParameterBase<T>, P>, "trainable_parameters<T>: T is not the modules' type");
      if (p.requires_grad()) out.push_back({name, &p});
    });
    return out;
  }

 protected:
  Module() = default;
  /// The training flag that train() and eval() set and is_training() reads.
  bool training_ = true;

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  StateDict collect(bool params, bool buffers) {
    StateDict out;
    detail::CollectVisitor v{&out, params, buffers, std::string()};
    self().visit(v);
    return out;
  }
};

}  // namespace r2plus1d::nn
