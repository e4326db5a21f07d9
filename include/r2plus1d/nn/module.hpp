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
/// From that one list the base derives train()/eval(), named_parameters(),
/// named_buffers(), state_dict() and load_state_dict(), with torch's key names.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "r2plus1d/core/error.hpp"
#include "r2plus1d/core/state_dict.hpp"
#include "r2plus1d/core/tensor.hpp"

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
  void parameter(const char* name, Tensor<U, R>& t) {
    if (parameters) out->add(prefix + name, ref_of(t));
  }
  template <class U, int R>
  void buffer(const char* name, Tensor<U, R>& t) {
    if (buffers) out->add(prefix + name, ref_of(t));
  }
};

/// Sets the training flag of every child.
struct TrainVisitor {
  bool on;
  template <class M>
  void child(const std::string&, M& m) {
    m.train(on);
  }
  template <class U, int R>
  void parameter(const char*, Tensor<U, R>&) {}
  template <class U, int R>
  void buffer(const char*, Tensor<U, R>&) {}
};

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
    detail::TrainVisitor v{on};
    self().visit(v);
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
  }

  /// Total number of parameter elements, as sum(p.numel() for p in m.parameters()).
  index_t num_parameters() {
    index_t n = 0;
    for (const auto& e : named_parameters()) n += e.ref.numel();
    return n;
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
